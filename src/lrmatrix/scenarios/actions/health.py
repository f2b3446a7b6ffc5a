"""A container with a health check, brought to a known health state before the disruption
(moby's TestDaemonRestartKillContainers, "with restart=always and with healthcheck")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action, until
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.containers import IDLE, PREFIX, inspect, run_container

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: the health check fails while this file holds something (upstream's test: while it exists;
#: the offline image's busybox has no touch or rm, and these are shell builtins)
UNHEALTHY_FLAG = "/tmp/unhealthy"
SET_UNHEALTHY = ["sh", "-c", f"echo 1 > {UNHEALTHY_FLAG}"]
SET_HEALTHY = ["sh", "-c", f": > {UNHEALTHY_FLAG}"]


@dataclass(frozen=True)
class HealthContainer(Record):
    """The health-checked container, and its health status when the daemon was stopped."""

    name: str
    status_before: str


def health_status(node: Node, name: str) -> str:
    """``State.Health.Status`` ("starting", "healthy", "unhealthy"); "none" without a check,
    "gone" when the daemon has no such container."""
    found = inspect(node, name)
    if found is None:
        return "gone"
    return str((found["State"].get("Health") or {}).get("Status") or "none")


@registry.action
@dataclass(frozen=True)
class StartHealthChecked(Action):
    """Upstream's setup on every engine: a check every ``interval_s`` that fails while
    /tmp/unhealthy holds something, one failure enough, a long start period. The container is seen
    healthy, then the flag is set and it is seen unhealthy: a probe that runs after the restart
    changes what ``health-status`` and ``health-log`` read; one that does not leaves it so."""

    name: ClassVar[str] = "start-health-checked"
    waits: ClassVar[bool] = True
    interval_s: float = 1.0
    start_period_s: float = 300.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.interval_s <= 10 or not 0 <= self.start_period_s <= 3600:
            raise ValueError("interval_s is 0.5-10 and start_period_s 0-3600 (seconds)")

    def run(self, ctx: Context) -> list[Record]:
        name = f"{PREFIX}health"
        options = [
            *("--restart", "always"),
            *("--health-cmd", f"! test -s {UNHEALTHY_FLAG}"),
            *("--health-interval", f"{self.interval_s:g}s", "--health-retries", "1"),
            *("--health-timeout", "5s", "--health-start-period", f"{self.start_period_s:g}s"),
        ]
        run_container(ctx, name, options, IDLE)
        self.await_status(ctx.node, name, "healthy")
        ctx.node.dockerd.cli_ok("exec", name, *SET_UNHEALTHY)
        self.await_status(ctx.node, name, "unhealthy")
        return [
            HealthContainer(name, "unhealthy"),
            ctx.event("health-checked container", f"{name}: unhealthy"),
        ]

    def await_status(self, node: Node, name: str, status: str) -> None:
        seen = poll(lambda: health_status(node, name) == status, self.timeout_s, 0.2)
        if not seen:
            raise NodeError(
                f"{name} did not turn {status} within {self.timeout_s:g} s: {health_status(node, name)}"
            )

    def describe(self, cell: Cell) -> str:
        return (
            f"run {PREFIX}health with a health check every {self.interval_s:g} s (fails while "
            f"{UNHEALTHY_FLAG} exists), {until('it is healthy, then unhealthy', self.timeout_s)} each"
        )
