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
    from lrmatrix.drivers.base import Node
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


@dataclass(frozen=True)
class Thawed(Record):
    """What ``thaw-while-down`` did to the paused container's cgroup while dockerd was down."""

    container: str
    how: str  # "<freezer file> <- <value>", or why nothing was written


@registry.action
@dataclass(frozen=True)
class ThawWhileDown(Action):
    """Outage: the paused container's cgroup thawed behind the daemon's back, as moby's test does
    with ``ctr tasks resume`` (here containerd exits with dockerd, so the freezer is written)."""

    name: ClassVar[str] = "thaw-while-down"

    def run(self, ctx: Context) -> list[Record]:
        paused = ctx.evidence.require(PausedContainer)
        how = thaw(ctx.node, paused.pid)
        return [Thawed(paused.container, how), ctx.event("container thawed while down", how)]

    def describe(self, cell: Cell) -> str:
        return "thaw the paused container's cgroup while dockerd is down (freezer, not the daemon)"


def thaw(node: Node, pid: int) -> str:
    """Write the thawed state into the freezer of ``pid``'s cgroup (v2 ``cgroup.freeze``, v1
    ``freezer.state``); what was written, or why nothing was."""
    raw = node.read_file(f"/proc/{pid}/cgroup")
    if not raw:
        return f"process {pid} gone: nothing to thaw"
    for line in raw.decode().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            target, value = f"/sys/fs/cgroup{path}/cgroup.freeze", "0"
        elif "freezer" in controllers.split(","):
            target, value = f"/sys/fs/cgroup/freezer{path}/freezer.state", "THAWED"
        else:
            continue
        if node.read_file(target) is None:
            continue
        # a shell's plain write: a cgroup file takes no truncate (write_file's in-place rewrite)
        wrote = node.run(["sh", "-c", 'printf %s "$1" > "$2"', "sh", value, target])
        if not wrote.ok:
            raise NodeError(f"writing {value} to {target}: {wrote.stderr.strip()}")
        return f"{target} <- {value}"
    raise NodeError(f"no freezer cgroup of process {pid} found in /proc/{pid}/cgroup")
