"""Faults next to dockerd while it runs (docker/for-linux#678, chaosd's ``process kill`` and
``process stop``): containerd killed alone, dockerd frozen with SIGSTOP for the window, dockerd
killed and started again and again. Each runs before the cell's own stop, so the cell still
ends with its usual disruption; its checks read what the fault left. docs/scenarios.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Deployed, Record
from lrmatrix.run.actions.base import Action, until
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.spans import FaultSpan
from lrmatrix.workload.containers import ContainerState

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: how long a look at the API may take while dockerd is frozen (a frozen daemon accepts the
#: connection and never answers)
API_LOOK_S = 2.0
#: how often a wait looks again
LOOK_EVERY_S = 0.1


@dataclass(frozen=True)
class FaultDone(Record):
    """A fault near dockerd was made and undone: the workload's containers just before it,
    and what was seen meanwhile (``seen``: a short word per thing looked at)."""

    what: str
    before: list[ContainerState]
    seen: dict[str, str] = field(default_factory=dict)
    detail: str = ""


def api_look(node: Node) -> str:
    """ "answered", "hung" (no answer within API_LOOK_S) or "refused" (nothing listens)."""
    res = node.dockerd.cli("version", "-f", "{{.Server.Version}}", timeout=API_LOOK_S)
    if res.ok:
        return "answered"
    return "hung" if res.rc == 124 else "refused"


def signal_pids(node: Node, signal_name: str, pids: list[int]) -> None:
    """``kill -s`` on the node: the fault is made as an operator (or chaosd) would make it."""
    res = node.run(["kill", "-s", signal_name, *map(str, pids)], timeout=15)
    if not res.ok:
        raise NodeError(f"kill -s {signal_name} {pids} failed on {node.name}: {res.one_line()}")


def workload_before(ctx: Context) -> list[ContainerState]:
    return ctx.evidence.require(Deployed).workload.snapshot()


@registry.action
@dataclass(frozen=True)
class KillContainerd(Action):
    """SIGKILL to the node's containerd alone while dockerd runs; then wait until a new
    containerd runs (dockerd's supervisor, or the service manager, starts it) and the API answers."""

    name: ClassVar[str] = "kill-containerd"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        node, clock = ctx.node, ctx.clock
        before = workload_before(ctx)
        old = node.processes.named("containerd")
        if not old:
            raise NodeError(f"no containerd runs on {node.name}: there is nothing to kill")
        start = clock.now()
        signal_pids(node, "KILL", old)

        def back() -> list[int]:
            new = [p for p in node.processes.named("containerd") if p not in old]
            return new if new and node.dockerd.api_ready() else []

        new = poll(back, ctx.cell.timings.recover_timeout_s, LOOK_EVERY_S, clock.waits)
        end = clock.now()
        seen = {"containerd": "restarted" if new else "not back"}
        detail = f"containerd {old} killed; new {new or 'none'} after {end - start:.2f}s"
        return [
            FaultDone(self.name, before, seen, detail),
            FaultSpan("containerd killed", start, end),
            ctx.event("containerd killed", detail),
        ]

    def describe(self, cell: Cell) -> str:
        back = until("a new containerd runs and the API answers", cell.timings.recover_timeout_s)
        return f"SIGKILL the node's containerd while dockerd runs, {back}"


@registry.action
@dataclass(frozen=True)
class FreezeDockerd(Action):
    """SIGSTOP to dockerd for the outage window, then SIGCONT (chaosd ``process stop``): the
    API is looked at while frozen; dockerd is never left frozen, whatever happens."""

    name: ClassVar[str] = "freeze-dockerd"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        node, clock, timings = ctx.node, ctx.clock, ctx.cell.timings
        before = workload_before(ctx)
        pid = node.daemon_pid()
        if pid is None:
            raise NodeError(f"no dockerd pid found on {node.name} to freeze")
        proxies = node.processes.named("docker-proxy")
        start = clock.now()
        signal_pids(node, "STOP", [pid])
        try:
            api = api_look(node)
            proxies_while = node.processes.named("docker-proxy")
            clock.sleep(max(0.0, start + timings.outage_window_s - clock.now()))
        finally:
            signal_pids(node, "CONT", [pid])
        end = clock.now()
        node.dockerd.wait_api(timings.recover_timeout_s)
        kept = "kept" if proxies and set(proxies) <= set(proxies_while) else "gone"
        seen = {"api": api, "docker-proxy": kept if proxies else "none"}
        detail = (
            f"dockerd {pid} stopped {end - start:.2f}s; API {api}; docker-proxy {proxies} -> {proxies_while}"
        )
        return [
            FaultDone(self.name, before, seen, detail),
            FaultSpan("dockerd frozen", start, end),
            ctx.event("dockerd frozen and continued", detail),
        ]

    def describe(self, cell: Cell) -> str:
        return (
            f"SIGSTOP dockerd for the outage window ({cell.timings.outage_window_s:g} s), then SIGCONT, "
            f"{until('its API answers', cell.timings.recover_timeout_s)}"
        )


@registry.action
@dataclass(frozen=True)
class KillLoop(Action):
    """dockerd killed (SIGKILL) and started again, ``kills`` times in a row (a crash loop a
    service manager restarts); it runs again at the end."""

    name: ClassVar[str] = "kill-loop"
    waits: ClassVar[bool] = True
    kills: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.kills <= 10:
            raise ValueError(f"kills = {self.kills} is out of range: use 1 to 10")

    def run(self, ctx: Context) -> list[Record]:
        node, clock = ctx.node, ctx.clock
        before = workload_before(ctx)
        start = clock.now()
        pids = []
        for _ in range(self.kills):
            pids.append(node.daemon_pid())
            node.stop_daemon("SIGKILL")
            node.start_daemon()
        end = clock.now()
        detail = f"dockerd {pids} killed in {end - start:.2f}s, started after each"
        return [
            FaultDone(self.name, before, {"kills": str(self.kills)}, detail),
            FaultSpan(f"dockerd killed {self.kills} times", start, end),
            ctx.event("dockerd kill loop", detail),
        ]

    def describe(self, cell: Cell) -> str:
        each = until("its API answers", cell.timings.ready_timeout_s)
        return f"SIGKILL dockerd and start it again, {self.kills} times in a row, each start {each}"
