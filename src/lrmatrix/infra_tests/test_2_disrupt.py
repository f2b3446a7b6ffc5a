"""Disrupt and outage: the daemon is stopped as a service manager would; the node is checked
while it is down. What must stay (live-restore) or go (without) is the point of the matrix."""

from __future__ import annotations

import pytest

from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Stopped
from lrmatrix.modules.dockerd import DAEMON_DOWN

pytestmark = pytest.mark.usefixtures("held_down")


@pytest.mark.phase("disrupt")
def test_dockerd_exited(node, evidence):
    pid = evidence.require(Stopped).before_pid
    assert pid is not None and node.daemon_pid() is None
    assert node.processes.proc(pid) is None, f"dockerd (pid {pid}) still exists"


@pytest.mark.phase("outage")
def test_dockerd_is_gone(node):
    """Not only the pid the driver knows: any dockerd of the node (an ssh node's dockerd names
    no socket in its arguments, so matching on the socket path could never find one)."""
    assert node.daemon_pid() is None
    assert node.processes.named("dockerd") == [], "a dockerd for this node is still running"


@pytest.mark.phase("outage")
def test_api_socket_refuses(host, node):
    assert not host.socket(f"unix://{node.socket_path}").is_listening


@pytest.mark.phase("outage")
@pytest.mark.parametrize(
    "command",
    [
        "docker ps",
        "docker run --rm {image} true",
        "docker exec lrm-web-1 true",
        "docker logs lrm-web-1",
        "docker stop lrm-web-1",
    ],
)
def test_docker_cli_cannot_connect(host, workload, command):
    res = host.run(command.format(image=workload.image))
    assert res.rc != 0, f"{command!r} succeeded while the daemon is down"
    assert DAEMON_DOWN in res.stderr, f"{command!r}: unexpected error {res.stderr.strip()!r}"


@pytest.mark.phase("outage")
def test_container_processes_kept_or_gone(node, before, cell):
    before = before.all_procs()
    assert before, "no container processes were recorded before the stop"
    if cell.live_restore:
        for p in before:
            now = node.processes.proc(p.pid)
            assert now is not None, f"pid {p.pid} ({p.cmdline[:40]}) is gone"
            assert now.start_ticks == p.start_ticks, f"pid {p.pid} was replaced (new start time)"
    else:
        alive = before

        def all_gone() -> bool:
            nonlocal alive
            alive = [p for p in before if (n := node.processes.proc(p.pid)) and n.key == p.key]
            return not alive

        poll(all_gone, 5, 0.1)
        assert not alive, f"still running without live-restore: {[p.pid for p in alive]}"
