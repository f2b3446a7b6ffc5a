"""live-restore switched by a reload (SIGHUP), on a real engine node with Debian's docker.io:
the setting flips in ``docker info`` while dockerd and the containers keep their PIDs. And
the other direction: when a reload cannot change it, the scenario restarts the daemon."""

from __future__ import annotations

import pytest

from conftest import ROOT, engine_ready, node_with_a_container
from lrmatrix.deadline import poll
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.evidence.records import Event, LiveRestoreApplied, Timing
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.run import live_restore
from lrmatrix.run.runner import Runner
from prereqs import needs


def applied(runner: Runner) -> LiveRestoreApplied:
    """live-restore applied as a cell's setup does it."""
    runner.keep(*live_restore.apply(runner.ctx))
    return runner.evidence.require(LiveRestoreApplied)


pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]


def pid_of(node: EngineNode, cid: str) -> int:
    return int(node.dockerd.cli_ok("inspect", "--format", "{{.State.Pid}}", cid).strip())


def test_reload_turns_live_restore_on_without_restarting_anything():
    with node_with_a_container("engine-liverestore") as (node, cid):
        assert node.dockerd.effective_live_restore() is False
        dockerd, container = node.daemon_pid(), pid_of(node, cid)
        runner = Runner(node.cell, node)
        assert applied(runner).effective is True
        assert [e.name for e in runner.evidence.all(Event)] == ["daemon reloaded"]
        assert "live_restore_restart_s" not in [t.key for t in runner.evidence.all(Timing)]
        assert node.daemon_pid() == dockerd, "dockerd was restarted"
        assert pid_of(node, cid) == container, "the container was restarted"
        assert container > 0 and node.processes.proc(container) is not None


def test_reload_turns_it_off_again_and_an_absent_key_would_not():
    """moby applies live-restore on reload only when daemon.json sets it: the scenario writes
    the key explicitly, so a reload can turn it off as well."""
    with node_with_a_container("engine-liverestore") as (node, cid):
        path = node.daemon_json_path
        original = node.read_file(path)
        node.write_file(path, daemon_config.merge_live_restore(original, True))
        node.reload_daemon()
        assert _eventually(node, True)
        node.write_file(path, original or b"")  # key absent: a reload keeps the running value
        node.reload_daemon()
        assert not _eventually(node, False, timeout=1.0)
        off = load_matrix(ROOT / "matrix").cell("engine-noliverestore")
        dockerd = node.daemon_pid()
        assert applied(Runner(off, node)).effective is False and node.daemon_pid() == dockerd
        assert node.processes.proc(pid_of(node, cid)) is not None


def test_the_run_restarts_when_a_reload_does_not_change_it(monkeypatch):
    with node_with_a_container("engine-liverestore") as (node, _cid):
        dockerd = node.daemon_pid()
        monkeypatch.setattr(node, "reload_daemon", lambda: None)  # a daemon that ignores SIGHUP
        monkeypatch.setattr("lrmatrix.run.live_restore.RELOAD_WAIT_S", 0.3)
        runner = Runner(node.cell, node)
        assert applied(runner).effective is True
        assert [e.name for e in runner.evidence.all(Event)] == ["daemon restarted"]
        assert node.daemon_pid() != dockerd


def _eventually(node: EngineNode, want: bool, timeout: float = 5.0) -> bool:
    """Whether the daemon reports ``want`` within ``timeout``: a reload is applied asynchronously."""
    return poll(lambda: node.dockerd.effective_live_restore() is want, timeout, 0.1)
