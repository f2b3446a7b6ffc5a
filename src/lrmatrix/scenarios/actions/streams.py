"""Client streams across the restart (moby#27987, #29342, #31997): a ticker container with
``docker wait``, ``logs -f``, ``attach`` and ``events`` running against it on the node before
the stop, its ``exec -u`` answer, and after the restart a bounded ``docker stop``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action, until
from lrmatrix.scenarios import registry, ticker

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

CONTAINER = "lrm-streams"
#: lrmatrix.process.run's status for a command it gave up on
TIMED_OUT = 124
#: the background item the runner stops at teardown
RUNNING = "stream-clients"


def clients(container: str) -> dict[str, list[str]]:
    """The four streams a user keeps open on a container, by the name the checks report."""
    return {
        "wait": ["wait", container],
        "logs": ["logs", "-f", "--tail", "1", container],
        "attach": ["attach", "--no-stdin", "--sig-proxy=false", container],
        "events": ["events", "--format", "{{.Type}} {{.Action}}"],
    }


def exec_user(ctx: Context, container: str, user: str) -> str:
    """What ``exec -u`` answers in the container: its Uid line, or the daemon's error."""
    res = ctx.node.dockerd.cli("exec", "-u", user, container, "grep", "Uid", "/proc/self/status")
    return " ".join(res.stdout.split()) if res.ok else f"error: {res.one_line()}"


@dataclass(frozen=True)
class StreamsStarted(Record):
    """The ticker the streams follow, where their output is, and what was true before the stop."""

    container: str
    folder: str
    user: str
    exec_before: str
    rootfs: str  # the container's merged root filesystem, as mountinfo names it


@dataclass(frozen=True)
class StreamStop(Record):
    """``docker stop`` of the ticker after the restart: its exit status, how long it took, and
    ``hung`` when it had not returned within the bound."""

    rc: int | None
    seconds: float
    hung: bool
    output: str


@registry.action
@dataclass(frozen=True)
class StartStreamClients(Action):
    """Start the ticker and the four clients, and read ``exec -u`` once (before the stop)."""

    name: ClassVar[str] = "start-stream-clients"
    user: str = "nobody"

    def run(self, ctx: Context) -> Iterable[Record]:
        ticker.start(ctx, CONTAINER)
        rootfs = ctx.node.dockerd.cli_ok(
            "inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", CONTAINER
        ).strip()
        before = exec_user(ctx, CONTAINER, self.user)
        folder = f"{ctx.node.work_dir}/streams"
        running = ticker.NodeClients(ctx, folder, clients(CONTAINER))
        ctx.running.start(RUNNING, running)
        ended = {n: rc for n, rc in running.ended().items() if rc is not None}
        if ended:
            raise NodeError(f"stream clients ended before the stop: {ended}")
        return [StreamsStarted(CONTAINER, folder, self.user, before, rootfs)]

    def describe(self, cell: Cell) -> str:
        return (
            f"run the ticker {CONTAINER}; on the node start docker wait, logs -f, attach and events "
            f"against it; read exec -u {self.user}"
        )


@registry.action
@dataclass(frozen=True)
class StopStreamContainer(Action):
    """``docker stop -t grace_s`` of the ticker, given up on after ``bound_s`` (a hang)."""

    name: ClassVar[str] = "stop-stream-container"
    waits: ClassVar[bool] = True
    grace_s: int = 5
    bound_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.grace_s < self.bound_s:
            raise ValueError(f"grace_s ({self.grace_s}) must be >= 0 and below bound_s ({self.bound_s})")

    def run(self, ctx: Context) -> Iterable[Record]:
        start = ctx.clock.now()
        res = ctx.node.dockerd.cli("stop", "-t", str(self.grace_s), CONTAINER, timeout=self.bound_s)
        hung = res.rc == TIMED_OUT and res.stderr.startswith("timed out")
        return [StreamStop(None if hung else res.rc, ctx.clock.since(start), hung, res.one_line()[:200])]

    def describe(self, cell: Cell) -> str:
        return f"docker stop -t {self.grace_s} {CONTAINER}, " + until("it returns", self.bound_s)
