"""The survival horizon: how long a container that logs can run while dockerd is down.

Before the disruption, each container's log output rate is measured (``docker logs`` over
the time the probe and any load already ran: no extra wait). The capacity of its stdout
chain is measured on the node (``stdout_pipes``). Capacity / rate is the predicted horizon.
During the outage a watcher samples the chain and the processes' wait channels; a stall is
named only when a process was seen blocked writing into a full chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lrmatrix import stdout_pipes
from lrmatrix.watch import Watcher

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node

#: how often the chain is sampled while the daemon is down (each sample is one node command)
WATCH_INTERVAL_S = 0.5


def docker_time(wall: float) -> str:
    """A wall time as ``docker logs --since/--until`` takes it (RFC 3339, nanoseconds)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_rates(node: Node, names: list[str], since: float, until: float) -> dict[str, dict[str, float]]:
    """Bytes per second each container wrote to stdout and stderr between two wall times.

    ``docker logs`` returns what the log driver kept, byte for byte as the container wrote
    it, whatever the driver (json-file, local, journald); an error leaves the container out."""
    span = until - since
    rates: dict[str, dict[str, float]] = {}
    if span <= 0:
        return rates
    for name in names:
        res = node.docker("logs", "--since", docker_time(since), "--until", docker_time(until), name)
        if res.ok:
            rates[name] = {
                "stdout": round(len(res.stdout.encode()) / span, 1),
                "stderr": round(len(res.stderr.encode()) / span, 1),
            }
    return rates


@dataclass
class Pressure:
    """One container's log pressure: the result's ``log_pressure.<container>``."""

    bytes_per_s: float
    pipe_capacity: int | None  # stdout chain, bytes; None: not measured on this node
    predicted_horizon_s: float | None  # None: nothing logged, or capacity not measured
    stalled_at_s: float | None = None  # from "daemon gone" to the first blocked write seen
    blocked: str = ""  # what was seen: process, wait channel, bytes queued

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_per_s": self.bytes_per_s,
            "pipe_capacity": self.pipe_capacity,
            "predicted_horizon_s": self.predicted_horizon_s,
            "stalled_at_s": self.stalled_at_s,
            "blocked": self.blocked or None,
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

    def step(self) -> bool:
        now = time.monotonic()
        self.samples += 1
        for pid, gauge in stdout_pipes.measure(self.node, list(self.by_pid)).items():
            name = self.by_pid.get(pid)
            if name is not None and name not in self.stalls and (seen := blocked_write(gauge)):
                self.stalls[name] = (round(now - self.since, 2), seen)
        return len(self.stalls) < len(self.by_pid)


def blocked_write(gauge: stdout_pipes.Gauge) -> str:
    """What proves a stall: a process waiting in a pipe write while a chain is full; else ""."""
    blocked = gauge.blocked_in_pipe_write()
    full = [(name, s) for name, s in gauge.streams.items() if s.full]
    if not blocked or not full:
        return ""
    name, stream = full[0]
    wchan = gauge.wchans[blocked[0]]
    return (
        f"pid {blocked[0]} blocked writing its {name} ({wchan}), "
        f"{stream.queued} of {stream.capacity} bytes queued"
    )
