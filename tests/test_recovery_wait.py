"""The wait for recovery on a real engine node: it ends as soon as the only containers left
unanswered are ones the daemon left stopped (neither running nor restarting), instead of
waiting out recover_timeout_s, and says which; with every container running it waits for
them all. A respawn race that killed a container cost each of its two waits 30 s in CI."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conftest import an_engine_node, engine_ready
from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Recovered
from lrmatrix.evidence.store import Evidence
from lrmatrix.run.actions.workload import AwaitPaths, DeployContainers
from lrmatrix.run.clock import RunClock
from lrmatrix.run.context import Context
from lrmatrix.workload.stopped import stopped_for_good
from prereqs import needs

pytestmark = [pytest.mark.integration, needs(engine_ready())]


@pytest.fixture(scope="module")
def deployed() -> Iterator[Context]:
    """A real engine node with the cell's two nginx containers deployed, as a run's context."""
    with an_engine_node("engine-liverestore") as node:
        ctx = Context(node.cell, node, RunClock(), Evidence())
        ctx.evidence.add(*DeployContainers().run(ctx))
        ctx.evidence.add(*AwaitPaths("ready").run(ctx))
        yield ctx


def recovered(ctx: Context) -> tuple[Recovered, float]:
    began = time.monotonic()
    (record,) = AwaitPaths("recovered").run(ctx)
    assert isinstance(record, Recovered)
    return record, time.monotonic() - began


def test_with_every_container_running_every_path_answers(deployed):
    assert stopped_for_good(deployed.node, ["lrm-web-1", "lrm-web-2"]) == set()
    record, _took = recovered(deployed)
    assert record.stopped == () and record.answered and all(record.answered.values()), record


def test_a_container_left_stopped_ends_the_wait_and_is_named(deployed):
    node = deployed.node
    node.dockerd.cli_ok("stop", "-t", "1", "lrm-web-1")  # stopped by hand: no policy restarts it
    try:
        names = ["lrm-web-1", "lrm-web-2", "lrm-no-such"]
        assert stopped_for_good(node, names) == {"lrm-web-1", "lrm-no-such"}
        record, took = recovered(deployed)
        assert record.stopped == ("lrm-web-1",)
        assert record.answered["node"] is False
        assert took < deployed.cell.timings.recover_timeout_s / 3, f"waited {took:.1f} s"
    finally:
        node.dockerd.cli_ok("start", "lrm-web-1")


def test_a_container_its_policy_is_restarting_is_not_stopped_for_good(deployed):
    node = deployed.node
    image = node.dockerd.cli_ok("inspect", "--format", "{{.Config.Image}}", "lrm-web-1").strip()
    name = "lrm-restarting"
    node.dockerd.cli_ok(
        "run", "-d", "--name", name, "--restart", "always", "--entrypoint", "/bin/sh", image, "-c", "exit 1"
    )
    try:

        def restarting() -> bool:
            state = node.dockerd.cli_ok("inspect", "--format", "{{.State.Restarting}}", name)
            return state.strip() == "true"

        assert poll(restarting, 20, 0.05), "the policy never put it in its restarting state"
        assert stopped_for_good(node, [name]) == set()
    finally:
        node.dockerd.cli("rm", "-f", name)


def test_a_daemon_that_does_not_answer_has_stopped_nothing(deployed):
    node = deployed.node
    node.stop_daemon("SIGTERM")
    try:
        assert stopped_for_good(node, ["lrm-web-1", "lrm-web-2"]) == set()
    finally:
        node.start_daemon()
