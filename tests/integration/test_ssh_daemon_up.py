"""Is the daemon up, on a real ssh node: the check behind the outage watch and test_dockerd_is_gone.

Debian's init script starts dockerd without naming its socket, so a check matching the
socket path in dockerd's arguments could never find it; and a listener on docker.sock
(systemd's docker.socket) must be seen without connecting to it, which would start dockerd.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from sshnode import SysvNode, why_not_ready
from test_ssh_driver import driver

from prereqs import import_module, needs

import_module("paramiko", 'pip install "lrmatrix[ssh]"')

pytestmark = [
    pytest.mark.integration,
    needs(why_not_ready() and f"staging node: {why_not_ready()}"),
]

disrupt = importlib.import_module("lrmatrix.infra_tests.test_2_disrupt")

#: a listener on the API socket that records any connection made to it
LISTENER = """
import os, socket
os.makedirs("/run", exist_ok=True)
s = socket.socket(socket.AF_UNIX)
s.bind("/run/docker.sock")
s.listen()
s.settimeout(20)
try:
    s.accept()
    open("/run/lrm-connected", "w").write("yes")
except OSError:
    pass
"""


@pytest.fixture(scope="module")
def staging() -> Iterator[SysvNode]:
    with SysvNode.running() as node:
        node.sh("service docker status >/dev/null || service docker start </dev/null")
        node.wait_docker()
        yield node


def test_dockerd_is_gone_fails_while_the_init_scripts_dockerd_runs(staging):
    node = driver(staging)
    try:
        assert node.processes.named("dockerd") == [node.daemon_pid()]
        dockerd = node.processes.proc(node.daemon_pid())
        assert dockerd and node.socket_path not in dockerd.cmdline  # why matching it found none
        assert node.daemon_up() == f"dockerd (pid {node.daemon_pid()}) is running"
        with pytest.raises(AssertionError):
            disrupt.test_dockerd_is_gone(node)
        node.stop_daemon("SIGTERM")
        assert node.daemon_up() is None
        disrupt.test_dockerd_is_gone(node)
    finally:
        staging.sh("service docker status >/dev/null || service docker start </dev/null")
        staging.wait_docker()
        node.close()


def test_a_listener_on_the_socket_is_seen_without_connecting_to_it(staging):
    node, listener = driver(staging), 0
    try:
        node.stop_daemon("SIGTERM")
        staging.sh("rm -f /run/docker.sock /run/lrm-connected")
        started = staging.sh(f"python3 -c '{LISTENER}' >/dev/null 2>&1 & echo $!; sleep 1")
        listener = int(started.split()[0])
        assert node.daemon_up() == "something listens on /var/run/docker.sock"
        assert staging.read("/run/lrm-connected") is None, "the check connected to the socket"
    finally:
        if listener:
            staging.console(f"kill {listener}")
        staging.console("rm -f /run/docker.sock /run/lrm-connected")
        staging.sh("service docker status >/dev/null || service docker start </dev/null")
        staging.wait_docker()
        node.close()
