"""The exited-while-down scenario's actions and checks on a real node: containers told to exit
read "exited 3" and "removed"; a container that did not exit, or an --rm one still there, reads
otherwise and fails a cell that must observe those."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios.actions.exits import (
    AUTOREMOVE,
    PLAIN,
    ExitContainers,
    ExitedWhileDown,
    ExitWhileDown,
    StartExiting,
)
from lrmatrix.scenarios.observation import mismatch, observe
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]


def test_exit_checks_read_exits_and_fail_on_a_container_that_stayed(scenario_node):  # noqa: F811
    node, tag = scenario_node
    deployed = Deployed(SimpleNamespace(image=tag), 0.0)
    started = StartExiting(code=3).run(context(node, deployed))
    held = next(r for r in started if isinstance(r, ExitContainers))

    # the wrong state first: both still running, as a daemon that missed their exit shows them
    ctx = context(node, deployed, held)
    still = observe("exit-status", ctx)
    assert still.observed == "running"
    assert mismatch(still, "exited 3", "engine/liverestore", "exited-while-down") is not None
    left = observe("autoremove", ctx)
    assert left.observed == "left running"
    assert mismatch(left, "removed", "engine/liverestore", "exited-while-down") is not None

    done = ExitWhileDown().run(ctx)
    record = next(r for r in done if isinstance(r, ExitedWhileDown))
    assert record.how == {PLAIN: "exited", AUTOREMOVE: "exited"}
    ctx = context(node, deployed, held, record)
    assert observe("exit-status", ctx).observed == "exited 3"
    assert observe("autoremove", ctx).observed == "removed"
    # told again: both processes are gone already, and the action says so
    again = next(r for r in ExitWhileDown().run(ctx) if isinstance(r, ExitedWhileDown))
    assert set(again.how.values()) == {"already gone"}


def test_an_exit_code_the_shell_keeps_for_itself_is_refused():
    with pytest.raises(ValueError, match="exit code from 1 to 125"):
        StartExiting(code=127)
