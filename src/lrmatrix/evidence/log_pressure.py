"""The survival horizon: how long a container that logs can run while dockerd is down.

Before the disruption, each container's log output rate is measured (``docker logs`` over
the time the probe and any load already ran: no extra wait). The capacity of its stdout
chain is measured on the node (``stdout_pipes``). Capacity / rate is the predicted horizon.
During the outage a watcher samples the chain and the processes' wait channels; a stall is
named only when a process was seen blocked writing into a full chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lrmatrix.evidence import stdout_pipes
from lrmatrix.evidence.records import Record
from lrmatrix.evidence.watchers import Watcher

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.workload.containers import ContainerState

#: how often the chain is sampled while the daemon is down (each sample is one node command)
WATCH_INTERVAL_S = 0.25
PAGE = 4096  # a pipe buffer's page: its capacity is a whole number of them
MAX_LINES = 2000  # line lengths kept per stream to model how writes fill the pages


def docker_time(wall: float) -> str:
    """A wall time as ``docker logs --since/--until`` takes it (RFC 3339, nanoseconds)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Rate:
    """What one stream of a container wrote: bytes per second, and the lengths of its lines
    (nginx writes an access-log line per request, redis two per connection), which decide how
    much of a pipe's pages its writes can use."""

    bytes_per_s: float
    lines: tuple[int, ...] = ()  # the latest ones, in order


def log_rates(node: Node, names: list[str], since: float, until: float) -> dict[str, dict[str, Rate]]:
    """Per container and stream, what it wrote between two wall times.

    ``docker logs`` returns what the log driver kept, byte for byte as the container wrote
    it, whatever the driver (json-file, local, journald); an error leaves the container out."""
    span = until - since
    rates: dict[str, dict[str, Rate]] = {}
    if span <= 0:
        return rates
    for name in names:
        res = node.dockerd.cli("logs", "--since", docker_time(since), "--until", docker_time(until), name)
        if res.ok:
            rates[name] = {
                stream: _rate(text, span) for stream, text in (("stdout", res.stdout), ("stderr", res.stderr))
            }
    return rates


def _rate(text: str, span: float) -> Rate:
    lines = [len(line) + 1 for line in text.encode().split(b"\n")[:-1]]
    return Rate(round(len(text.encode()) / span, 1), tuple(lines[-MAX_LINES:]))


def usable(capacity: int, lines: tuple[int, ...]) -> int:
    """Bytes a chain of ``capacity`` takes from writes of these lengths (repeated) before the
    next write blocks.

    A pipe holds whole 4 KiB pages. A write goes into the last page only if all of it fits
    there, else into new pages (Linux ``pipe_write``): 100 B lines use 4000 B of each page,
    1.1 kB lines 3.3 kB, and a mix of both somewhere in between. The shim's FIFO is filled a
    line at a time as well, so the chain is counted as one run of pages."""
    if not lines or not any(lines):
        return capacity
    pages, used, room, taken = capacity // PAGE, 0, 0, 0
    for i in range(pages * PAGE):  # bounded: every write takes at least a byte
        write = lines[i % len(lines)]
        if write <= room:
            room -= write
        else:
            need = -(-write // PAGE)
            if used + need > pages:
                break
            used, room = used + need, need * PAGE - write
        taken += write
    return taken


@dataclass(frozen=True)
class Pressure:
    """One container's log pressure: the result's ``log_pressure.<container>``."""

    bytes_per_s: float
    streams: dict[str, float]  # bytes/s per stream: stdout, stderr
    pipe_capacity: int | None  # stdout chain, bytes; None: not measured on this node
    usable_capacity: int | None  # of it, what this container's line length can fill
    predicted_horizon_s: float | None  # None: nothing logged, or capacity not measured
    stalled_at_s: float | None = None  # from "daemon gone" to the first blocked write seen
    free_until_s: float | None = None  # the sample before it, still writing: the stall is between
    blocked: str = ""  # what was seen: process, wait channel, bytes queued
    fill_rate_while_down: float | None = None  # bytes/s the chain filled while down (measured)
    rate_span_s: float | None = None  # how long the rate before the stop was measured over

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_per_s": self.bytes_per_s,
            "streams": self.streams,
            "pipe_capacity": self.pipe_capacity,
            "usable_capacity": self.usable_capacity,
            "predicted_horizon_s": self.predicted_horizon_s,
            "stalled_at_s": self.stalled_at_s,
            "free_until_s": self.free_until_s,
            "blocked": self.blocked or None,
            "fill_rate_while_down": self.fill_rate_while_down,
            "rate_span_s": self.rate_span_s,
            "projected_horizon_s": predict(self.fill_rate_while_down or 0.0, self.usable_capacity),
        }


def predict(rate: float, capacity: int | None) -> float | None:
    """Seconds of daemon downtime until the chain is full at this rate, if both are known."""
    if capacity is None or rate <= 0:
        return None
    return round(capacity / rate, 1)


class StallWatch(Watcher):
    """Samples the containers' stdout chains while the daemon is down, keeping per container
    the first time one of its processes was seen blocked writing into a full chain."""

    name = "stall-watch"

    def __init__(self, node: Node, pids: dict[str, int], since: float, limit_s: float) -> None:
        super().__init__(WATCH_INTERVAL_S, limit_s)
        self.node = node
        self.by_pid = {pid: name for name, pid in pids.items()}  # container main PID -> name
        self.since = since  # monotonic time the daemon was seen gone
        self.stalls: dict[str, tuple[float, str]] = {}
        self.samples = 0
        #: per container: (seconds since gone, bytes queued in its stdout chain) while not full
        self.filling: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}

    def step(self) -> bool:
        now = time.monotonic()
        self.samples += 1
        for pid, gauge in stdout_pipes.measure(self.node, list(self.by_pid)).items():
            name = self.by_pid.get(pid)
            if name is None or name in self.stalls:
                continue
            if seen := blocked_write(gauge):
                self.stalls[name] = (round(now - self.since, 2), seen)
            elif (stdout := gauge.streams.get("stdout")) is not None:
                self.filling[name].append((now - self.since, stdout.queued))
        return len(self.stalls) < len(self.by_pid)

    def fill_rate(self, name: str) -> float | None:
        """Bytes/s the container's stdout chain filled while the daemon was down: what it really
        logged then (clients that failed, such as docker-proxy's, no longer reach it)."""
        seen = self.filling.get(name) or []
        if len(seen) < 2 or seen[-1][0] - seen[0][0] < 1.0:
            return None
        return round((seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]), 1)


def blocked_write(gauge: stdout_pipes.Gauge) -> str:
    """What proves a stall: a process of the container waiting in a write into its stdout or
    stderr pipe (a write blocks only when the pipe has no room); else ""."""
    for name, stream in gauge.streams.items():
        if blocked := gauge.blocked_on(name):
            wchan = gauge.procs[blocked[0]].wchan
            return (
                f"pid {blocked[0]} blocked writing its {name} ({wchan}), "
                f"{stream.queued} B queued in its {len(stream.hops)}-hop chain of {stream.capacity} B"
            )
    return ""


@dataclass(frozen=True)
class LogPressure(Record):
    """The log-pressure evidence of one run: each container's rate and stdout chain before the
    stop, the horizon they predict, and (once the stall watch ended) the stalls seen while the
    daemon was down. The watch's end gives a new record; the last one is the run's."""

    pressure: dict[str, Pressure]
    measured_s: float | None = None  # what the measurement added to the run

    def as_dict(self) -> dict[str, Any]:
        return {name: p.as_dict() for name, p in self.pressure.items()}

    def watched(self, watch: StallWatch) -> LogPressure:
        """This record with what the stall watch saw."""
        pressure = {}
        for name, p in self.pressure.items():
            changes: dict[str, Any] = {"fill_rate_while_down": watch.fill_rate(name)}
            if name in watch.stalls:
                after_s, seen = watch.stalls[name]
                filling = watch.filling.get(name) or []
                changes |= {
                    "free_until_s": round(filling[-1][0], 2) if filling else 0.0,
                    "stalled_at_s": after_s,
                    "blocked": seen,
                }
            pressure[name] = replace(p, **changes)
        return LogPressure(pressure, self.measured_s)

    def findings(self) -> list[str]:
        """A stall named with what was seen; a horizon stated as a prediction, never as a stall."""
        out = []
        for name, p in self.pressure.items():
            over = "" if p.rate_span_s is None else f" (over {p.rate_span_s:g} s before the stop)"
            rate = f"{p.bytes_per_s / 1000:.1f} kB/s{over}"
            if p.stalled_at_s is not None:
                predicted = "" if p.predicted_horizon_s is None else f" (predicted {p.predicted_horizon_s} s)"
                out.append(
                    f"{name} stalled {p.stalled_at_s} s after the daemon was gone{predicted}: {p.blocked}; "
                    f"it logs {rate} and nothing drains its stdout while dockerd is down"
                )
            elif p.predicted_horizon_s is not None:
                filled = ""
                if (projected := predict(p.fill_rate_while_down or 0.0, p.usable_capacity)) is not None:
                    filled = (
                        f"; while down its chain filled at {(p.fill_rate_while_down or 0.0) / 1000:.1f} kB/s "
                        f"(~{projected} s)"
                    )
                out.append(
                    f"{name} logs {rate} into a {p.pipe_capacity} B stdout chain "
                    f"({p.usable_capacity} B usable at its line length): "
                    f"it would stall after ~{p.predicted_horizon_s} s of daemon downtime{filled}"
                )
        return out


def measure(node: Node, containers: list[ContainerState], since_wall: float) -> LogPressure:
    """Rates over the time the probe (and any load) ran before the stop, chains as they are.

    The span decides the rate's precision: a 0.3 s baseline holds about six of a loaded
    container's ~1 kB lines, so one line more or less moves its horizon by a sixth
    (``log_rate_min_s`` asks for more)."""
    began = time.monotonic()
    names = [c.name for c in containers]
    until = time.time()
    rates = log_rates(node, names, since_wall, until)
    gauges = stdout_pipes.measure(node, [c.pid for c in containers if c.pid])
    pressure: dict[str, Pressure] = {}
    for c in containers:
        rate = rates.get(c.name)
        if rate is None:
            continue
        chains = gauges[c.pid].streams if c.pid in gauges else {}
        horizons = [
            h
            for stream, chain in chains.items()
            if stream in rate
            and (h := predict(rate[stream].bytes_per_s, usable(chain.capacity, rate[stream].lines)))
            is not None
        ]
        stdout = chains.get("stdout")
        pressure[c.name] = Pressure(
            bytes_per_s=round(sum(r.bytes_per_s for r in rate.values()), 1),
            streams={stream: r.bytes_per_s for stream, r in rate.items()},
            pipe_capacity=stdout.capacity if stdout else None,
            usable_capacity=usable(stdout.capacity, rate["stdout"].lines) if stdout else None,
            predicted_horizon_s=min(horizons, default=None),
            rate_span_s=round(until - since_wall, 2),
        )
    return LogPressure(pressure, round(time.monotonic() - began, 3))


def stall_watch(
    node: Node, record: LogPressure, containers: list[ContainerState], gone_at: float, limit_s: float
) -> StallWatch | None:
    """From the moment the daemon is gone: which container stalls, and when (containers whose
    pressure was measured)."""
    pids = {c.name: c.pid for c in containers if c.pid and c.name in record.pressure}
    return StallWatch(node, pids, gone_at, limit_s) if pids else None


#: how far a stall may fall from its predicted horizon and still confirm it (the issue's ±25 %)
STALL_TOLERANCE = 0.25


def stall_problems(pressure: dict[str, Pressure], tolerance: float = STALL_TOLERANCE) -> list[str]:
    """Why a cell that expects its containers to stall did not prove it: a container never seen
    blocked in a log write, no prediction to hold it against, or a stall far from it."""
    if not pressure:
        return ["no container's log pressure was measured"]
    problems = []
    for name, p in pressure.items():
        if p.stalled_at_s is None:
            problems.append(f"{name} was never seen blocked writing its logs")
        elif p.predicted_horizon_s is None:
            problems.append(f"{name} stalled at {p.stalled_at_s} s but no horizon was predicted")
        else:
            # the stall happened after the last sample that saw it writing and by the first that
            # saw it blocked: the prediction must fall in that span, widened by the tolerance
            low, high = p.predicted_horizon_s * (1 - tolerance), p.predicted_horizon_s * (1 + tolerance)
            free = p.stalled_at_s if p.free_until_s is None else p.free_until_s
            if p.stalled_at_s - free > tolerance * p.predicted_horizon_s:
                problems.append(
                    f"{name} stalled between {free} and {p.stalled_at_s} s: the watch's samples were too "
                    f"far apart to hold against the predicted {p.predicted_horizon_s} s"
                )
            elif free > high or p.stalled_at_s < low:
                problems.append(
                    f"{name} stalled between {free} and {p.stalled_at_s} s, not within {tolerance:.0%} "
                    f"of the predicted {p.predicted_horizon_s} s"
                )
    return problems
