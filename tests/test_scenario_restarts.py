"""The restart-count check on a real node: "0 restarts" for a container nothing restarted, and
another value, failing a cell that must observe "0 restarts", once the daemon restarted it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios.observation import mismatch, observe
from lrmatrix.workload.containers import inspect_containers
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]


def watched(node, *names: str) -> Deployed:
    """The record the check reads: a workload handle whose snapshot inspects ``names``."""
    return Deployed(SimpleNamespace(snapshot=lambda: inspect_containers(node, list(names), [0])), 0.0)


def test_restart_count_fails_a_cell_once_the_daemon_restarted_the_container(scenario_node):  # noqa: F811
    node, tag = scenario_node
    node.dockerd.cli_ok("run", "-d", "--name", "lrm-rc-steady", tag, "sleep", "600")
    node.dockerd.cli_ok(
        "run", "-d", "--name", "lrm-rc-crashy", "--restart", "always", tag, "sh", "-c", "sleep 0.3; exit 1"
    )

    steady = observe("restart-count", context(node, watched(node, "lrm-rc-steady")))
    assert (steady.observed, mismatch(steady, "0 restarts", "engine/liverestore", "restarts")) == (
        "0 restarts",
        None,
    )

    def restarted() -> bool:
        return inspect_containers(node, ["lrm-rc-crashy"], [0])[0].restart_count >= 1

    assert poll(restarted, timeout=20, interval=0.2), "the daemon never restarted the container"
    crashy = observe("restart-count", context(node, watched(node, "lrm-rc-crashy")))
    assert crashy.observed != "0 restarts"
    assert mismatch(crashy, "0 restarts", "engine/liverestore", "restarts").startswith(
        "restart-count: expected '0 restarts', observed"
    )
