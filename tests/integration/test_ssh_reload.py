"""live-restore switched by a reload on an existing node over SSH: the sysvinit node (Debian's
init script has no reload) gets SIGHUP and flips without a restart; the booted systemd node is
asked with `systemctl reload docker.service` and flips without a restart too."""

from __future__ import annotations

import time

import pytest
import test_ssh_driver as ssh
from sshnode import driver
from test_ssh_driver import DAEMON_JSON, SYSV_ONLY

pytest.importorskip("paramiko")

# the staging node and its per-test reset, shared with the ssh driver's own tests
staging, clean = ssh.staging, ssh.clean

pytestmark = pytest.mark.integration
SYSTEMD_ONLY = pytest.mark.parametrize("staging", ["systemd"], indirect=True)


def effective_becomes(node, want: bool, polls: int = 50) -> bool:
    for _ in range(polls):
        if node.effective_live_restore() is want:
            return True
        time.sleep(0.1)
    return False


@SYSV_ONLY
def test_sysvinit_node_reloads_by_sighup_without_restarting(clean):
    node = driver(clean)
    try:
        node.sanity_checks()
        assert node.manager is not None and node.manager.name == "sysvinit"
        pid = node.daemon_pid()
        assert node.effective_live_restore() is False
        clean.write(DAEMON_JSON, b'{"live-restore": true}')
        node.reload_daemon()
        assert effective_becomes(node, True)
        assert node.daemon_pid() == pid, "dockerd was restarted"
        clean.write(DAEMON_JSON, b'{"live-restore": false}')
        node.reload_daemon()
        assert effective_becomes(node, False) and node.daemon_pid() == pid
    finally:
        node.close()
        clean.remove(DAEMON_JSON)


@SYSTEMD_ONLY
def test_systemd_node_is_reloaded_through_systemctl(clean):
    node = driver(clean)
    try:
        node.sanity_checks()
        assert node.manager is not None and node.manager.name == "systemd"
        pid = node.daemon_pid()
        cursor = node._journal_mark()
        clean.write(DAEMON_JSON, b'{"live-restore": true}')
        node.reload_daemon()
        assert effective_becomes(node, True)
        assert node.daemon_pid() == pid, "dockerd was restarted"
        journal = clean.sh(f"journalctl _PID=1 -o cat --no-pager --after-cursor '{cursor}'")
        assert "Reloaded docker.service" in journal, journal
    finally:
        node.close()
        clean.remove(DAEMON_JSON)
