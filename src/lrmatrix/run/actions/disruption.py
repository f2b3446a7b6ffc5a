"""Actions of the disruption: stop or kill the daemon and confirm it gone, wait out the window
while watching it stays gone, switch the engine, start it again (unless it came back by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.log_pressure import LogPressure, stall_watch
from lrmatrix.evidence.records import DaemonWatched, NodeFacts, Record, Started, Stopped, WindowEnded
from lrmatrix.evidence.restart import new_start, read_starts
from lrmatrix.evidence.watchers import DaemonWatch, NatWatch
from lrmatrix.matrix.engines import Engine, upstream
from lrmatrix.run.actions.base import Action, until
from lrmatrix.run.background import (
    DAEMON_WATCH,
    NAT_WATCH,
    STALL_WATCH,
    DaemonWatchRun,
    NatWatchRun,
    StallWatchRun,
)
from lrmatrix.workload.snapshot import Snapshot

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: how often a respawn cell looks for the new dockerd (a process check, tens of ms over ssh)
RESPAWN_CHECK_S = 0.05


@dataclass(frozen=True)
class Stop(Action):
    """Stop the daemon as the node's service manager would, and confirm it gone; from then on
    watch whether it comes back by itself and whether the containers' log pipes fill."""

    name: ClassVar[str] = "stop"
    waits: ClassVar[bool] = True
    signal: str = "SIGTERM"

    def run(self, ctx: Context) -> list[Record]:
        node, cell, clock = ctx.node, ctx.cell, ctx.clock
        before_pid = node.daemon_pid()
        if before_pid is None and not cell.held_down:  # its return is judged by the pid killed
            raise NodeError(
                f"no dockerd pid found on {node.name} to {self.name}: the cell's disruption needs one"
            )
        proxies_before = node.processes.named("docker-proxy") if node.watches_daemon else None
        ctx.evidence.add(ctx.event("daemon stopping", self.signal))
        stop_at = clock.now()
        # recorded before it is done: an interrupt during the stop leaves a daemon to bring back
        ctx.evidence.add(Stopped(stop_at, None, before_pid, self.signal, proxies_before))
        node.stop_daemon(self.signal)
        stopped_at = clock.now()
        records: list[Record] = [ctx.timing("daemon_stop_s", stop_at, stopped_at)]
        proxies_gone = None
        # confirmed, not assumed: gone now, and watched until the start command (a respawn
        # cell's daemon is not held down: its return is what the cell waits for)
        if node.watches_daemon and cell.held_down:
            up = node.daemon_up()
            if up:
                found = "" if before_pid else " (no dockerd pid was found to stop)"
                raise NodeError(f"the daemon is not gone after the stop{found}: {up}")
            proxies_gone = node.processes.named("docker-proxy")
            watch = DaemonWatch(node)
            ctx.running.start(DAEMON_WATCH, DaemonWatchRun(watch, clock))
            watch.start()
        records.append(Stopped(stop_at, stopped_at, before_pid, self.signal, proxies_before, proxies_gone))
        measured = ctx.evidence.last(LogPressure)
        before = ctx.evidence.last(Snapshot, which="before")
        if cell.live_restore and measured is not None and before is not None:
            # the containers run on, logging into undrained pipes
            window = cell.timings.outage_window_s
            watch_stalls = stall_watch(node, measured, before.containers, stopped_at, window + 5)
            if watch_stalls is not None:
                ctx.running.start(STALL_WATCH, StallWatchRun(watch_stalls, measured, stopped_at))
                watch_stalls.start()
        records.append(ctx.event("daemon stopped"))
        return records

    def describe(self, cell: Cell) -> str:
        gone = until("it is gone", cell.timings.stop_timeout_s)
        return f"{self.name} dockerd ({self.signal}) {self.manner}, {gone}"

    @property
    def manner(self) -> str:
        return "as the service manager would"


@dataclass(frozen=True)
class Kill(Stop):
    """A crash: dockerd killed without a chance to clean up."""

    name: ClassVar[str] = "kill"
    signal: str = "SIGKILL"

    @property
    def manner(self) -> str:
        return "as a crash would"


@dataclass(frozen=True)
class OutageWindow(Action):
    """The daemon stays gone for the whole window, counted from when it was gone; then the
    watches end: whether it came back by itself (respawned: its API answers, so it is not
    started again), which containers stalled."""

    name: ClassVar[str] = "window"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        stopped = ctx.evidence.require(Stopped)
        assert stopped.stopped_at is not None
        remaining = stopped.stopped_at + ctx.cell.timings.outage_window_s - ctx.clock.now()
        if remaining > 0:
            ctx.clock.sleep(remaining)
        records = ctx.running.stop(DAEMON_WATCH)  # at the start command: did it come back before?
        watched = next((r for r in records if isinstance(r, DaemonWatched)), None)
        came_back = watched is not None and watched.came_back_at is not None
        proxies = None
        if watched is not None and not came_back:
            proxies = ctx.node.processes.named("docker-proxy")
        if came_back and watched is not None:
            records.append(ctx.event("daemon came back by itself", watched.came_back))
        records += ctx.running.stop(STALL_WATCH)
        start_at = ctx.clock.now()
        respawned = came_back and ctx.node.dockerd.api_ready()
        return [
            *records,
            ctx.timing("outage_window_s", stopped.stopped_at, start_at),
            ctx.event("daemon starting"),
            WindowEnded(start_at, respawned, proxies),
        ]

    def describe(self, cell: Cell) -> str:
        return f"{until('the outage window ends', cell.timings.outage_window_s)} after the daemon was gone"


@dataclass(frozen=True)
class AwaitRespawn(Action):
    """A respawn cell's outage: until the node's service manager has started a new dockerd by
    itself (a process other than the one killed; a socket that systemd keeps listening is not
    a daemon here, and nothing connects to it) and its API answers; no start command."""

    name: ClassVar[str] = "respawn"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        node, timings, clock = ctx.node, ctx.cell.timings, ctx.clock
        stopped = ctx.evidence.require(Stopped)
        looks: list[tuple[float, list[int]]] = []  # each look's time and the new dockerds it found

        def back() -> bool:
            at = clock.now()
            looks.append((at, [pid for pid in node.processes.named("dockerd") if pid != stopped.before_pid]))
            return bool(looks[-1][1])

        poll(back, timings.recover_timeout_s, RESPAWN_CHECK_S, clock.waits)
        records = ctx.running.stop(STALL_WATCH)
        if not looks or not looks[-1][1]:
            ctx.evidence.add(*records)
            raise NodeError(
                f"dockerd was not started again by the node's service manager within "
                f"{timings.recover_timeout_s:g} s of the kill; teardown starts it"
            )
        seen_at, new = looks[-1]
        # when it started, not when a look found it (``lrmatrix.evidence.restart``)
        starts, errors = read_starts(node, new)
        start_at, how = new_start(looks[-2][0] if len(looks) > 1 else stopped.stop_at, starts.values())
        node.dockerd.wait_api(timings.recover_timeout_s)
        return [
            *records,
            WindowEnded(start_at, respawned=True),
            ctx.timing("respawn_s", stopped.stop_at, start_at),  # from the kill
            Started(clock.now(), node.versions()),
            ctx.event(
                "daemon respawned",
                f"{node.daemon_up() or ''}; started at {how}, first seen {seen_at - start_at:.3f} s later"
                + "".join(f"; {e}" for e in errors),
                at=start_at,
            ),
        ]

    def describe(self, cell: Cell) -> str:
        back = until(
            "the service manager has started a new dockerd by itself", cell.timings.recover_timeout_s
        )
        return (
            f"{back} (seen every {RESPAWN_CHECK_S:g} s; the outage ends at its start time in /proc), "
            "and its API answers (no start command)"
        )


@dataclass(frozen=True)
class SwitchEngine(Action):
    """Another engine on the same data-root from the next start on (upgrade and downgrade
    cells); a daemon that came back by itself is left as it is."""

    name: ClassVar[str] = "upgrade"
    engine: Engine

    def run(self, ctx: Context) -> list[Record]:
        window = ctx.evidence.last(WindowEnded)
        if window is None or not window.respawned:
            ctx.node.switch_engine(self.engine)
        return []

    def describe(self, cell: Cell) -> str:
        pinned = "" if self.engine.is_machine else f" (Docker {self.engine.version})"
        return f"switch the node to engine {self.engine.name}{pinned}, same data-root"


@dataclass(frozen=True)
class WatchNat(Action):
    """What the NAT table does while the daemon starts and the paths come back (drivers
    that can read it)."""

    name: ClassVar[str] = "nat"

    def run(self, ctx: Context) -> list[Record]:
        if ctx.node.samples_nat:
            watch = NatWatch(ctx.node, limit_s=ctx.cell.timings.recover_timeout_s + 30)
            ctx.running.start(NAT_WATCH, NatWatchRun(watch, ctx.clock))
            watch.start()
        return []

    def describe(self, cell: Cell) -> str:
        return "watch the NAT table (where the driver can read it) until the paths answer again"


@dataclass(frozen=True)
class Start(Action):
    """Start the daemon and wait for its API, unless it respawned (came back by itself
    during the window): it is not started twice. What answers then is recorded."""

    name: ClassVar[str] = "start"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        window = ctx.evidence.require(WindowEnded)
        if not window.respawned:
            ctx.node.start_daemon()
        api_at = ctx.clock.now()
        after = ctx.node.versions()
        records: list[Record] = [
            ctx.timing("daemon_start_s", window.start_at, api_at),
            ctx.event("daemon started"),
            Started(api_at, after),
        ]
        facts = ctx.evidence.last(NodeFacts)
        before, now = (upstream(v.get("docker", "?")) for v in (facts.versions if facts else {}, after))
        if before != now:
            records.append(ctx.event(f"dockerd {before} → {now}", f"engine {ctx.cell.next_engine.name}"))
        return records

    def describe(self, cell: Cell) -> str:
        answers = until("its API answers", cell.timings.recover_timeout_s)
        return f"start dockerd as the service manager would (not if it came back by itself), {answers}"


@dataclass(frozen=True)
class EndNatWatch(Action):
    """The NAT table was watched while the daemon started and the paths came back."""

    name: ClassVar[str] = "nat"

    def run(self, ctx: Context) -> list[Record]:
        return ctx.running.stop(NAT_WATCH)

    def describe(self, cell: Cell) -> str:
        return "stop watching the NAT table (watched from the start command until here)"
