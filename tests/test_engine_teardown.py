"""The engine node's teardown on a real dockerd: it is killed only once its own shutdown is over
(its containerd stopped), never in the middle of it."""

from __future__ import annotations

import psutil
import pytest

from conftest import an_engine_node, engine_ready
from prereqs import needs

pytestmark = [pytest.mark.integration, needs(engine_ready())]


@pytest.mark.parametrize("cell", ["engine-liverestore", "engine26-noliverestore", "engine28-liverestore"])
def test_teardown_ends_dockerd_after_its_shutdown_completed(cell):
    with an_engine_node(cell) as node:
        dockerd, containerd = node.daemon_pid(), node._containerd_pid()
        assert dockerd is not None and containerd is not None
        assert psutil.Process(containerd).ppid() == dockerd, "the case the teardown's kill is for"
        node._stop_for_teardown()
        log = (node.state_dir / "dockerd.log").read_text(errors="replace")
        assert not psutil.pid_exists(dockerd) and not psutil.pid_exists(containerd)
    # what dockerd logs before it stops its containerd: a kill before that would cut it short
    assert "Daemon shutdown complete" in log, log[-2000:]
    assert log.count("starting containerd") == 1, "dockerd started its containerd again"
