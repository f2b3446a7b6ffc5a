"""The swarm scenario's judgement without a node: each check reads what the actions recorded
and passes only at the measured value; the actions that need a manager say so and change
nothing on a node that never became one; a scenario's cleanup actions run in the teardown
whatever happened; the swarm is made on engine nodes only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lrmatrix.errors import NodeError
from lrmatrix.evidence.store import Evidence
from lrmatrix.run.sequence import sequence_for
from lrmatrix.scenarios.actions.swarm import (
    NOT_IN_SWARM,
    ReloadLiveRestore,
    StartWithLiveRestore,
    SwarmInitAction,
    SwarmLeave,
    SwarmTried,
)
from lrmatrix.scenarios.observation import mismatch, observe
from test_scenarios import mark, parse, scenario  # noqa: F401 - the fixture

WHERE = ("engine/noliverestore", "swarm")
REFUSAL = "Error response from daemon: --live-restore daemon configuration is incompatible with swarm mode"


def ctx_with(*records, node=None):
    evidence = Evidence()
    evidence.add(*records)
    return SimpleNamespace(evidence=evidence, node=node, event=lambda name, detail="": None)


@pytest.mark.parametrize(
    ("check", "record", "value"),
    [
        ("swarm-init", SwarmTried("init", "active", "active"), "active"),
        ("swarm-init", SwarmTried("init", "refused", REFUSAL), "refused"),
        ("live-restore-reload", SwarmTried("reload", "accepted", "LiveRestoreEnabled true"), "accepted"),
        ("live-restore-reload", SwarmTried("reload", "refused", "stayed false"), "refused"),
        ("start-in-swarm", SwarmTried("start", "refused to start", "level=fatal ..."), "refused to start"),
        ("start-in-swarm", SwarmTried("start", "started", "swarm active"), "started"),
    ],
)
def test_each_check_reads_its_record_and_fails_at_any_other_value(check, record, value):
    seen = observe(check, ctx_with(record))
    assert seen.observed == value
    assert seen.detail == record.detail
    assert mismatch(seen, value, *WHERE) is None
    other = "something else"
    assert mismatch(seen, other, *WHERE).startswith(f"{check}: expected {other!r}, observed {value!r}")


def test_a_check_whose_action_never_ran_is_an_error_not_a_value():
    with pytest.raises(NodeError, match="no SwarmTried what='init' evidence"):
        observe("swarm-init", ctx_with())
    with pytest.raises(NodeError, match="no SwarmTried what='start' evidence"):
        observe("start-in-swarm", ctx_with(SwarmTried("init", "active", "active")))


@pytest.mark.parametrize(("state", "value"), [("active\n", "active"), ("inactive\n", "inactive")])
def test_swarm_after_restart_reads_the_nodes_state(state, value):
    answer = SimpleNamespace(ok=True, stdout=state)
    node = SimpleNamespace(dockerd=SimpleNamespace(cli=lambda *args: answer))
    seen = observe("swarm-after-restart", ctx_with(SwarmTried("init", "active", "active"), node=node))
    assert seen.observed == value
    assert (mismatch(seen, "active", *WHERE) is None) == (value == "active")


class Untouchable:
    """A node no action may change: any call but the daemon's pid fails the test."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def daemon_pid(self) -> int | None:
        return self.pid

    def __getattr__(self, name: str):
        raise AssertionError(f"the action touched the node: {name}")


@pytest.mark.parametrize(("action", "pid"), [(ReloadLiveRestore(), 1), (StartWithLiveRestore(), None)])
def test_without_a_swarm_the_live_restore_actions_record_so_and_touch_nothing(action, pid):
    (record,) = action.run(ctx_with(SwarmTried("init", "refused", REFUSAL), node=Untouchable(pid)))
    assert record.outcome == NOT_IN_SWARM


def test_start_with_live_restore_refuses_a_running_daemon():
    with pytest.raises(NodeError, match="while the daemon is down"):
        StartWithLiveRestore().run(ctx_with(SwarmTried("init", "active", "active"), node=Untouchable(1)))


def test_swarm_leave_with_the_daemon_down_has_nothing_to_leave():
    (left,) = SwarmLeave().run(ctx_with(node=Untouchable(None)))
    assert "nothing to leave" in left.detail


@pytest.mark.parametrize(("scheme", "refused"), [("engine", False), ("ssh", True)])
def test_the_swarm_is_made_on_engine_nodes_only(scheme, refused):
    reason = SwarmInitAction().refuses_node(scheme)
    assert (reason is not None) == refused
    if refused:
        assert "never on a ssh node of yours" in reason


def test_a_scenarios_cleanup_actions_run_in_the_teardown(mark):  # noqa: F811
    m = parse(sx=scenario(actions={"cleanup": [{"action": "mark-test", "params": {"word": "z"}}]}))
    plain, scen = sequence_for(m.cell("engine-liverestore")), sequence_for(m.cell("engine-liverestore-sx"))
    assert scen.cleanup == (*plain.cleanup, mark("z"))
    assert scen.phases == plain.phases
