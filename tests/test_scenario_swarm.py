"""The swarm scenario's actions and checks on a real node: swarm init refused while live-restore
is on and active once it is off; live-restore turned on by a reload on the manager; dockerd
refusing to start with live-restore on a manager, and starting once the file is put back; the
swarm's state after a restart, and after the cleanup left it. Each check also sees its wrong
state and fails a cell that must observe the other value."""

from __future__ import annotations

import pytest

from conftest import engine_ready
from lrmatrix.modules import daemon_json
from lrmatrix.scenarios.actions.swarm import (
    NOT_IN_SWARM,
    ReloadLiveRestore,
    StartWithLiveRestore,
    SwarmInitAction,
    SwarmLeave,
    live_restore_enabled,
    node_state,
)
from lrmatrix.scenarios.observation import mismatch, observe
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]

WHERE = ("engine/noliverestore", "swarm")


def live_restore(node, on: bool) -> None:
    """live-restore set by a reload, as a node's administrator would."""
    raw = node.read_file(node.daemon_json_path)
    node.write_file(node.daemon_json_path, daemon_json.merge_live_restore(raw, on))
    node.reload_daemon()


def test_swarm_init_is_refused_with_live_restore_and_the_checks_fail_on_it(scenario_node):  # noqa: F811
    node, _ = scenario_node
    live_restore(node, True)
    try:
        ctx = context(node)
        ctx.evidence.extend(SwarmInitAction().run(ctx))
        refused = observe("swarm-init", ctx)
        assert refused.observed == "refused", refused.detail
        assert "incompatible with swarm mode" in refused.detail
        wrong = mismatch(refused, "active", *WHERE)
        assert wrong.startswith("swarm-init: expected 'active', observed 'refused'")
        after = observe("swarm-after-restart", ctx)
        assert after.observed == "inactive"
        assert mismatch(after, "active", *WHERE) is not None
        ctx.evidence.extend(ReloadLiveRestore().run(ctx))
        assert observe("live-restore-reload", ctx).observed == NOT_IN_SWARM
    finally:
        live_restore(node, False)


def test_a_manager_takes_live_restore_by_reload_and_refuses_to_start_with_it(scenario_node):  # noqa: F811
    node, _ = scenario_node
    original = node.read_file(node.daemon_json_path)
    ctx = context(node)
    try:
        ctx.evidence.extend(SwarmInitAction().run(ctx))
        assert observe("swarm-init", ctx).observed == "active"

        ctx.evidence.extend(ReloadLiveRestore().run(ctx))
        reload = observe("live-restore-reload", ctx)
        assert reload.observed in ("accepted", "refused"), reload.detail
        assert not live_restore_enabled(node), "the action must leave live-restore off"
        assert node.read_file(node.daemon_json_path) == original

        node.stop_daemon("SIGTERM")
        ctx.evidence.extend(StartWithLiveRestore().run(ctx))
        start = observe("start-in-swarm", ctx)
        assert node.read_file(node.daemon_json_path) == original
        node.start_daemon()  # the file put back: the daemon starts, still a manager
        assert observe("swarm-after-restart", ctx).observed == "active"
        assert start.observed == "refused to start", start.detail
        assert "incompatible with swarm mode" in start.detail
        assert mismatch(start, "started", *WHERE) is not None
    finally:
        if node.daemon_pid() is None:
            node.write_file(node.daemon_json_path, original)
            node.start_daemon()
        left = SwarmLeave().run(ctx)
    assert "left (active -> inactive)" in left[0].detail
    # the wrong state: the swarm gone after a restart, as a cell that expects it back fails
    gone = observe("swarm-after-restart", ctx)
    assert gone.observed == "inactive"
    wrong = mismatch(gone, "active", *WHERE)
    assert wrong.startswith("swarm-after-restart: expected 'active', observed 'inactive'")
    assert node_state(node) == "inactive"
    assert "not in a swarm" in SwarmLeave().run(ctx)[0].detail
