"""A paused container across the restart (scenario ``paused``): the daemon must restore it
as paused, and ``docker unpause`` must work after (TestDaemonRestartWithUnpausedRunningContainer,
moby#25870: a restart once left a paused container unpaused and out of the daemon's control)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry, sidecar

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class PausedContainer(Record):
    """The container ``pause-container`` started and paused, and its process."""

    container: str
    pid: int


@registry.action
@dataclass(frozen=True)
class PauseContainer(Action):
    """A container (a sleep from the workload's image), started and then paused."""

    name: ClassVar[str] = "pause-container"
    container: str = "lrm-paused"

    def __post_init__(self) -> None:
        sidecar.named("container", self.container)

    def run(self, ctx: Context) -> list[Record]:
        sidecar.start(ctx, self.container)
        ctx.node.dockerd.cli_ok("pause", self.container)
        state = sidecar.state(ctx.node, self.container)
        if state is None or state.status != "paused":
            raise NodeError(f"{self.container} is not paused after docker pause: {state}")
        return [
            PausedContainer(self.container, state.pid),
            ctx.event("container paused", f"{self.container} pid {state.pid}"),
        ]

    def describe(self, cell: Cell) -> str:
        return f"a container {self.container}, paused"
