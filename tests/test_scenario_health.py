"""The healthcheck scenario's action and checks on a real node: the action brings its container
to healthy and then unhealthy; each check reads the value a working daemon gives, and another
value (which fails a cell that must observe the first) from a container in the wrong state:
no health check at all, checks that never run again, a check that never passes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios.actions.health import HealthContainer, StartHealthChecked
from lrmatrix.scenarios.observation import mismatch, observe
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]


def fails(check: str, ctx, expected: str) -> str:
    """What the check observed; asserts that a cell expecting ``expected`` fails on it."""
    seen = observe(check, ctx)
    assert mismatch(seen, expected, "engine/liverestore", "healthcheck") is not None, seen
    return seen.observed


def test_health_checks_read_a_working_daemon_and_fail_in_the_wrong_state(scenario_node):  # noqa: F811
    node, tag = scenario_node
    deployed = Deployed(SimpleNamespace(image=tag), 0.0)
    ctx = context(node, deployed)
    records = StartHealthChecked().run(ctx)
    held = next(r for r in records if isinstance(r, HealthContainer))
    assert held.status_before == "unhealthy"
    ctx = context(node, deployed, held)
    # no restart here: the daemon keeps checking, so the values are those of a working monitor
    assert observe("health-status", ctx).observed == "unhealthy"
    assert observe("health-log", ctx).observed == "resumed"
    assert observe("health-healthy-again", ctx).observed == "healthy"

    def held_by(name: str, *options: str) -> object:
        node.dockerd.cli_ok("run", "-d", "--name", name, *options, tag, "sleep", "600")
        return context(node, HealthContainer(name, "unhealthy"))

    # no health check at all: the status a cell that must read "starting" fails on
    assert fails("health-status", held_by("lrm-hc-none", "--no-healthcheck"), "starting") == "none"
    # a check that does not run again within the wait: what a stopped monitor looks like
    stopped = held_by("lrm-hc-hourly", "--health-cmd", "true", "--health-interval", "1h")
    # a check that never passes: the container never turns healthy again
    broken = held_by(
        "lrm-hc-false", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1"
    )
    # each of the two waits out the check's own 15 s, on a container of its own: side by side
    with ThreadPoolExecutor(max_workers=2) as pool:
        stalled = pool.submit(fails, "health-log", stopped, "resumed")
        stuck = pool.submit(fails, "health-healthy-again", broken, "healthy")
        assert stalled.result() == "stalled"
        assert stuck.result().startswith("stuck ")
