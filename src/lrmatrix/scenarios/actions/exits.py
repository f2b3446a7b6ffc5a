"""Containers whose process exits while dockerd is down (moby's testLiveRestoreAutoRemove,
docker/for-linux#761, moby#30308): one plain, one ``--rm``; their main process is told to
exit with a known code during the outage, from the node, where no daemon is needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action, until
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.containers import PREFIX, idle, run_container

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: the plain container and the ``--rm`` one
PLAIN, AUTOREMOVE = f"{PREFIX}exit", f"{PREFIX}exit-rm"


@dataclass(frozen=True)
class ExitContainers(Record):
    """The containers that are to exit while the daemon is down: name -> main process id."""

    pids: dict[str, int]
    code: int


@dataclass(frozen=True)
class ExitedWhileDown(Record):
    """What the outage action did: per container, "exited" (signalled, seen gone) or "already
    gone" (the daemon's stop had ended it: no live restore)."""

    how: dict[str, str]


def alive(node: Node, pid: int) -> bool:
    return node.run(["kill", "-0", str(pid)]).ok


@registry.action
@dataclass(frozen=True)
class StartExiting(Action):
    """Two idle containers that exit with ``code`` on SIGTERM: ``lrm-scn-exit`` and the
    ``--rm`` ``lrm-scn-exit-rm``; their process ids kept for the outage."""

    name: ClassVar[str] = "start-exiting"
    code: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.code <= 125:
            raise ValueError(
                "code is an exit code from 1 to 125 (126 and above mean the shell's own failures)"
            )

    def run(self, ctx: Context) -> list[Record]:
        pids = {}
        for name, options in ((PLAIN, []), (AUTOREMOVE, ["--rm"])):
            pids[name] = int(run_container(ctx, name, options, idle(self.code))["State"]["Pid"])
        return [ExitContainers(pids, self.code), ctx.event("exiting containers", f"{pids}, exit {self.code}")]

    def describe(self, cell: Cell) -> str:
        return f"run {PLAIN} and {AUTOREMOVE} (--rm), idle until SIGTERM, then exit {self.code}"


@registry.action
@dataclass(frozen=True)
class ExitWhileDown(Action):
    """SIGTERM to each container's main process from the node while dockerd is down, then the
    process seen gone: it exits with its code and nothing is there to collect it."""

    name: ClassVar[str] = "exit-while-down"
    waits: ClassVar[bool] = True
    timeout_s: float = 10.0

    def run(self, ctx: Context) -> list[Record]:
        held = ctx.evidence.require(ExitContainers)
        how = {}
        for name, pid in held.pids.items():
            if not alive(ctx.node, pid):
                how[name] = "already gone"
                continue
            ctx.node.run(["kill", "-TERM", str(pid)])
            if not poll(lambda pid=pid: not alive(ctx.node, pid), self.timeout_s, 0.1):
                raise NodeError(f"{name}'s process {pid} did not exit within {self.timeout_s:g} s of SIGTERM")
            how[name] = "exited"
        return [
            ExitedWhileDown(how),
            ctx.event("exited while down", ", ".join(f"{n}: {h}" for n, h in how.items())),
        ]

    def describe(self, cell: Cell) -> str:
        gone = until("they are gone", self.timeout_s)
        return f"SIGTERM to {PLAIN}'s and {AUTOREMOVE}'s processes from the node, {gone}"
