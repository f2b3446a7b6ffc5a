"""The volumes-in-use, restart-policy and paused checks on one real node: each reads the value
its right state gives, and another value, failing a cell that must observe the right one, once
the node is put in the wrong state (the volume's user gone, a container without a policy, a
container no longer paused)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.evidence.records import Deployed
from lrmatrix.run.context import Context
from lrmatrix.scenarios.actions.pauses import PauseContainer
from lrmatrix.scenarios.actions.policies import StartPolicyContainer
from lrmatrix.scenarios.actions.volumes import UseVolume
from lrmatrix.scenarios.observation import mismatch, observe
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]
WHERE = "engine/liverestore"


def deployed(node, tag: str) -> Context:
    """A run's context whose workload runs ``tag`` (the actions start their containers from it)."""
    return context(node, Deployed(SimpleNamespace(image=tag), 0.0))


def fails(ctx: Context, check: str, right: str, scenario: str) -> str:
    """The check's observation, asserted to fail a cell that must observe ``right``."""
    seen = observe(check, ctx)
    assert seen.observed != right, seen
    assert mismatch(seen, right, WHERE, scenario).startswith(f"{check}: expected {right!r}, observed")
    return seen.observed


def test_volume_checks_fail_once_no_container_holds_the_volume(scenario_node):  # noqa: F811
    node, tag = scenario_node
    ctx = deployed(node, tag)
    ctx.evidence.extend(UseVolume(volume="lrm-vt", options={"type": "tmpfs", "device": "tmpfs"}).run(ctx))
    data, in_use = observe("volume-data", ctx), observe("volume-in-use", ctx)
    assert (data.observed, in_use.observed) == ("seen", "refused"), (data, in_use)
    assert "mounted (tmpfs)" in data.detail

    node.dockerd.cli_ok("rm", "-f", "lrm-vt-user")  # the last user gone: unmounted, unreferenced
    assert fails(ctx, "volume-data", "seen", "volumes-in-use") == "lost"
    assert fails(ctx, "volume-in-use", "refused", "volumes-in-use") == "removed"


def test_kill_restart_fails_for_a_container_without_a_policy(scenario_node):  # noqa: F811
    node, tag = scenario_node
    always = deployed(node, tag)
    always.evidence.extend(StartPolicyContainer(container="lrm-pa", policy="always").run(always))
    assert observe("policy-restore", always).observed == "kept"
    assert observe("kill-restart", always).observed == "restarted"
    assert fails(always, "policy-restore", "kept", "restart-policy") == "started again"

    never = deployed(node, tag)
    never.evidence.extend(StartPolicyContainer(container="lrm-pn", policy="no").run(never))
    assert fails(never, "kill-restart", "restarted", "restart-policy") == "not restarted"
    assert fails(never, "policy-restore", "kept", "restart-policy") == "exited 137"


def test_paused_checks_fail_once_the_container_runs(scenario_node):  # noqa: F811
    node, tag = scenario_node
    ctx = deployed(node, tag)
    ctx.evidence.extend(PauseContainer(container="lrm-pz").run(ctx))
    assert observe("paused-state", ctx).observed == "paused"
    assert observe("unpause", ctx).observed == "unpaused"

    assert fails(ctx, "paused-state", "paused", "paused") == "running"
    assert fails(ctx, "unpause", "unpaused", "paused") == "refused: not paused"
