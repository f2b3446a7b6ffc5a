"""What runs beside the scenario until it is stopped, and the evidence each hands over then:
the probe, the load, the daemon watch, the NAT watch and the stall watch.

Each is registered in the run's ``Running`` by the action that started it; the action that
ends it (or the teardown, whatever happened) calls ``stop`` and keeps what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lrmatrix.evidence.log_pressure import LogPressure, StallWatch
from lrmatrix.evidence.probe import Probe
from lrmatrix.evidence.records import DaemonWatched, Event, LoadEvidence, NatWatched, ProbeEvidence, Record
from lrmatrix.evidence.watchers import DaemonWatch, NatWatch

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Load
    from lrmatrix.run.clock import RunClock

PROBE = "probe"
LOAD = "load"
DAEMON_WATCH = "daemon-watch"
NAT_WATCH = "nat-watch"
STALL_WATCH = "stall-watch"


@dataclass
class ProbeRun:
    """The background probe, started at ``wall0`` (epoch)."""

    probe: Probe
    wall0: float

    def stop(self) -> list[Record]:
        self.probe.stop()
        return [ProbeEvidence(self.probe.records, self.wall0)]


@dataclass
class LoadRun:
    """The load generator, started at ``wall0`` (epoch): a probe of its own whose answers are
    only counted."""

    probe: Probe
    load: Load
    wall0: float

    def stop(self) -> list[Record]:
        self.probe.stop()
        record = self.probe.records["load"]
        samples = record.samples
        span = samples[-1].t - samples[0].t if len(samples) > 1 else 0.0
        summary = {
            **vars(self.load),
            "sent": len(samples),
            "failed": sum(1 for x in samples if not x.ok),
            "achieved_per_s": round((len(samples) - 1) / span, 1) if span else None,
            "stopped": record.stopped,
        }
        return [LoadEvidence(summary)]


@dataclass
class DaemonWatchRun:
    """Whether the daemon stays gone for the whole window."""

    watch: DaemonWatch
    clock: RunClock

    def stop(self) -> list[Record]:
        self.watch.stop()
        w = self.watch
        return [DaemonWatched(w.came_back_at, w.came_back, w.as_dict(self.clock.t0))]


@dataclass
class NatWatchRun:
    """The DOCKER NAT chain around a start."""

    watch: NatWatch
    clock: RunClock

    def stop(self) -> list[Record]:
        self.watch.stop()
        return [NatWatched(self.watch.as_dict(self.clock.t0))]


@dataclass
class StallWatchRun:
    """The containers' stdout chains while the daemon is down: the log pressure measured
    before the stop, with the stalls seen, and an event at each stall's time."""

    watch: StallWatch
    measured: LogPressure
    gone_at: float

    def stop(self) -> list[Record]:
        self.watch.stop()
        record = self.measured.watched(self.watch)
        stalls: list[Record] = [
            Event(self.gone_at + p.stalled_at_s, f"{name} stalled", p.blocked)
            for name, p in record.pressure.items()
            if p.stalled_at_s is not None
        ]
        return [record, *stalls]
