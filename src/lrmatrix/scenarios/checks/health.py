"""Health checks across the restart: moby#41871 (checks stopped after a live restore), fixed
by #41935 (v23.0) and #47051 (v25.0); moby's TestDaemonRestartKillContainers asserts the
three things these read, in this order: the status reads ``starting`` after the restart, a
check newer than the restart ran, and the container turns healthy again once its check
passes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.health import SET_HEALTHY, UNHEALTHY_FLAG, HealthContainer, health_status
from lrmatrix.scenarios.containers import docker_time, inspect, node_now
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: a check every second (the action's default) has several chances in this long
WAIT_S = 15.0


@registry.check("health-status", phase="after")
def status_after_restart(ctx: Context) -> Seen:
    """The health status once the daemon is back (upstream: ``starting``)."""
    held = ctx.evidence.require(HealthContainer)
    now = health_status(ctx.node, held.name)
    return Seen(now, f"{held.name}: {held.status_before} before the stop, {now} after the restart")


@registry.check("health-log", phase="after")
def check_after_restart(ctx: Context) -> Seen:
    """Whether a health check runs after the restart: ``resumed`` when one starts within 15 s
    of this check (the node's clock), ``stalled`` when none does."""
    held = ctx.evidence.require(HealthContainer)
    since = node_now(ctx.node)

    def newest() -> float | None:
        found = inspect(ctx.node, held.name)
        log = ((found or {}).get("State", {}).get("Health") or {}).get("Log") or []
        return max((docker_time(entry["Start"]) for entry in log), default=None)

    poll(lambda: (newest() or 0.0) > since, WAIT_S, 0.5)
    last = newest()
    if last is not None and last > since:
        return Seen("resumed", f"{held.name}: a check started {last - since:.1f} s after the wait began")
    said = f"the last one started {since - last:.1f} s before it" if last is not None else "none in the log"
    return Seen("stalled", f"{held.name}: no check started within {WAIT_S:g} s of the wait; {said}")


@registry.check("health-healthy-again", phase="after")
def healthy_again(ctx: Context) -> Seen:
    """Its check made to pass again (the flag emptied): ``healthy`` within 15 s, or the status
    it was stuck in."""
    held = ctx.evidence.require(HealthContainer)
    ctx.node.dockerd.cli_ok("exec", held.name, *SET_HEALTHY)
    if poll(lambda: health_status(ctx.node, held.name) == "healthy", WAIT_S, 0.5):
        return Seen("healthy", f"{held.name}: healthy within {WAIT_S:g} s of {UNHEALTHY_FLAG} emptied")
    stuck = health_status(ctx.node, held.name)
    return Seen(
        f"stuck {stuck}", f"{held.name}: still {stuck} {WAIT_S:g} s after {UNHEALTHY_FLAG} was emptied"
    )
