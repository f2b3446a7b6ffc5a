"""live-restore switched by a reload on an existing node over SSH: the sysvinit node (Debian's
init script has no reload) gets SIGHUP and flips without a restart; the booted systemd node is
asked with `systemctl reload docker.service` and flips without a restart too."""

from __future__ import annotations

import json

import pytest
import test_ssh_driver as ssh
from sshnode import DAEMON_JSON, driver

from lrmatrix.deadline import poll
from prereqs import import_module

import_module("paramiko", 'pip install "lrmatrix[ssh]"')

# the staging node and its per-test reset, shared with the ssh driver's own tests
staging, clean = ssh.staging, ssh.clean

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("staging", [ssh.flavour("sysvinit"), ssh.flavour("systemd")], indirect=True)
def test_a_reload_flips_live_restore_without_a_restart(clean):
    """sysvinit: SIGHUP to the pidfile's dockerd; systemd: `systemctl reload docker.service`
    (its ExecReload), which the journal shows once per reload."""
    node = driver(clean)
    try:
        node.sanity_checks()
        assert node.manager is not None and node.manager.name == clean.MANAGER
        pid = node.daemon_pid()
        cursor = node._journal_mark()
        assert node.dockerd.effective_live_restore() is False
        for want in (True, False):
            clean.write(DAEMON_JSON, json.dumps({"live-restore": want}).encode())
            node.reload_daemon()
            applied = poll(lambda w=want: node.dockerd.effective_live_restore() is w, 5, 0.1)
            assert applied, f"live-restore not {want}"
            assert node.daemon_pid() == pid, "dockerd was restarted"
        if clean.MANAGER == "systemd":
            journal = clean.sh(f"journalctl _PID=1 -o cat --no-pager --after-cursor '{cursor}'")
            assert journal.count("Reloaded docker.service") == 2, journal
    finally:
        node.close()
        clean.remove(DAEMON_JSON)
