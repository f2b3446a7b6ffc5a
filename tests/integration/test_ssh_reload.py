"""live-restore switched by a reload on an existing node over SSH: the sysvinit node (Debian's
init script has no reload) gets SIGHUP and flips without a restart; a systemd node is asked
with `systemctl reload docker.service` (command sequence only: systemd cannot run here)."""

from __future__ import annotations

import time

import pytest
import test_ssh_driver as ssh
from sshnode import why_not_ready
from test_ssh_driver import DAEMON_JSON, driver

pytest.importorskip("paramiko")

# the staging node and its per-test reset, shared with the ssh driver's own tests
staging, clean = ssh.staging, ssh.clean

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(why_not_ready()), reason=f"staging node: {why_not_ready()}"),
]


def effective_becomes(node, want: bool, polls: int = 50) -> bool:
    for _ in range(polls):
        if node.effective_live_restore() is want:
            return True
        time.sleep(0.1)
    return False


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


def test_systemd_node_is_reloaded_through_systemctl(clean):
    with clean.pretend_systemd() as calls:
        node = driver(clean)
        try:
            node.sanity_checks()
            assert node.manager is not None and node.manager.name == "systemd"
            node.reload_daemon()
        finally:
            node.close()
        assert clean.sh(f"cat {calls}").splitlines() == ["reload docker.service"]
