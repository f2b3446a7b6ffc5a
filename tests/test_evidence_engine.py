"""Evidence rules against a real engine node: the daemon must stay gone for the whole window.

The scenario runs in this process on a real dockerd; a second thread starts the node's
dockerd again in the middle of the outage, as a respawning init or socket activation would.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.process import become_subreaper
from lrmatrix.results import files as results
from lrmatrix.run.runner import Runner
from lrmatrix.run.session import CellRun
from prereqs import needs
from test_engine_faults import assert_no_residue, env  # noqa: F401 - env is a fixture

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]


@contextlib.contextmanager
def scenario_on_engine(environ: dict, results: Path, cell: str = "engine-liverestore") -> Iterator[Runner]:
    """A cell's run on a real engine node in this process, set up to its baseline; its
    teardown (node removed, result written) runs whatever the test does."""
    os.environ["LRMATRIX_STATE_DIR"] = environ["LRMATRIX_STATE_DIR"]
    become_subreaper()
    try:
        the_cell = load_matrix(ROOT / "matrix").cell(cell)
        runner = Runner(the_cell, EngineNode(the_cell))
        try:
            runner.setup()
            yield runner
        finally:
            CellRun(runner, results).finish()
    finally:
        del os.environ["LRMATRIX_STATE_DIR"]


@pytest.mark.parametrize("comes_back", [True, False], ids=["started-again-mid-outage", "stays-down"])
def test_a_daemon_that_comes_back_by_itself_makes_the_verdict_an_error(env, tmp_path, comes_back):  # noqa: F811
    with scenario_on_engine(env, tmp_path) as scenario:
        scenario.advance("outage")
        node = scenario.node
        assert node.daemon_up() is None, "the daemon was not gone at the start of the window"
        if comes_back:  # what a respawning init would do, from outside the scenario's thread
            time.sleep(1.0)
            restart = threading.Thread(target=node.start_daemon)
            restart.start()
            restart.join(60)
        scenario.advance("teardown")
    result = json.loads((tmp_path / "engine-liverestore.json").read_text())
    # the file this real build wrote is the model read back from it, key for key
    assert results.load(tmp_path / "engine-liverestore.json").document() == result
    assert result["schema"] == "lrmatrix.result/2"
    verdict, watch = result["verdict"], result["disruption"]["daemon_watch"]
    assert watch["period_s"] <= 0.25 and watch["checks"] >= 10, watch  # no timing assert: 2 shared cores
    if comes_back:
        assert verdict["observed"] == "error", verdict
        assert verdict["reason"].startswith("the daemon came back at t=")
        assert "by itself (dockerd (pid" in verdict["reason"]
        back, stopped = result["disruption"]["came_back_at"], result["disruption"]["stopped_at"]
        assert 1.0 <= back - stopped <= 6.0, result["disruption"]
    else:
        assert verdict["observed"] == "survive" and verdict["passed"], verdict
        assert watch["came_back_at"] is None and not watch["check_errors"], watch
    assert_no_residue(env, result["node"]["name"])
