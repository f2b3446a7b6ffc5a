"""What the daemon did when live-restore met swarm mode (moby ``IsSwarmCompatible``): the
init, the reload and the start the swarm actions tried, and the node's swarm state after the
cell's own restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.swarm import SwarmTried, node_state
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context


def tried(ctx: Context, what: str) -> Seen:
    """What the daemon did with the swarm action's ``what``, as it recorded it."""
    seen = ctx.evidence.require(SwarmTried, what=what)
    return Seen(seen.outcome, seen.detail)


@registry.check("swarm-init", phase="after")
def swarm_init(ctx: Context) -> Seen:
    """``docker swarm init`` at setup: ``active``, or ``refused`` with the daemon's reason."""
    return tried(ctx, "init")


@registry.check("live-restore-reload", phase="after")
def live_restore_reload(ctx: Context) -> Seen:
    """live-restore turned on by a reload on a manager: ``accepted``, ``refused``, ``not in a swarm``."""
    return tried(ctx, "reload")


@registry.check("start-in-swarm", phase="after")
def start_in_swarm(ctx: Context) -> Seen:
    """dockerd started with live-restore on a manager: ``refused to start``, ``started``, or not tried."""
    return tried(ctx, "start")


@registry.check("swarm-after-restart", phase="after")
def swarm_after_restart(ctx: Context) -> Seen:
    """The node's ``Swarm.LocalNodeState`` after the cell's restart (``active``, ``inactive``)."""
    state = node_state(ctx.node)
    joined = ctx.evidence.last(SwarmTried, what="init")
    before = joined.outcome if joined is not None else "no init"
    return Seen(state, f"swarm init at setup: {before}; after the restart: {state}")
