"""The engine checks of lrmatrix.infra_tests.test_6_engine, on a real upgrade: they pass on the node
the upgrade cell made, and fail once the node is put in the state each must reject (the old
engine answering after the window, a container that is not there)."""

from __future__ import annotations

import importlib
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.evidence.records import Deployed, Started
from lrmatrix.matrix.engines import MACHINE_ENGINE
from prereqs import needs
from test_evidence_engine import scenario_on_engine

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]

checks = importlib.import_module("lrmatrix.infra_tests.test_6_engine")


def test_engine_checks_pass_after_a_real_upgrade_and_fail_in_the_wrong_state(tmp_path):
    state = Path(tempfile.mkdtemp(prefix="lrmt-", dir="/tmp"))  # short: containerd's sockets
    try:
        env = {"LRMATRIX_STATE_DIR": str(state / "s")}
        with scenario_on_engine(env, tmp_path, "engine-liverestore-upgrade26") as scenario:
            scenario.advance("after")
            node, cell = scenario.node, scenario.cell
            host = node.testinfra_host()
            assert any(e.name == "dockerd 20.10.24 → 26.1.5" for e in scenario.events())
            checks.test_the_cells_engine_answers(scenario.evidence, node, cell)
            checks.test_exec_works(host, scenario.evidence.require(Deployed).workload, cell)

            # the wrong state: the machine's 20.10 came up again instead of 26.1
            node.stop_daemon("SIGTERM")
            node.switch_engine(MACHINE_ENGINE)
            node.start_daemon()
            scenario.keep(Started(0.0, node.versions()))
            with pytest.raises(AssertionError):
                checks.test_the_cells_engine_answers(scenario.evidence, node, cell)
            # the right engine running, but the recorded answer is another version's
            node.stop_daemon("SIGTERM")
            node.switch_engine(cell.next_engine)
            node.start_daemon()
            with pytest.raises(AssertionError, match=r"the node answers as 20\.10\.24"):
                checks.test_the_cells_engine_answers(scenario.evidence, node, cell)

            missing = SimpleNamespace(names=["lrm-not-there"])
            with pytest.raises(AssertionError):
                checks.test_exec_works(host, missing, cell)
            with pytest.raises(AssertionError):
                checks.test_stop_works(host, missing, cell)
            checks.test_stop_works(host, scenario.evidence.require(Deployed).workload, cell)
    finally:
        shutil.rmtree(state, ignore_errors=True)
