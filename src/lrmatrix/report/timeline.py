"""Probe outcomes over time, per access path, with phases and events: the data of a chart.

Kept apart from ``html.py`` so the chart's numbers (spans, the daemon-down interval) can be
tested without parsing SVG, and another renderer could draw the same timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from lrmatrix.report.rows import PATH_ORDER
from lrmatrix.results.model import Disruption, Result, Sample


@dataclass(frozen=True)
class Span:
    """Consecutive requests with the same outcome, from the first to the request after the last."""

    start: float
    end: float
    ok: bool
    requests: int
    max_latency_ms: float


@dataclass(frozen=True)
class Lane:
    path: str
    spans: tuple[Span, ...]
    sent: int
    failed: int


class Mark(NamedTuple):
    """A point in time worth a line on the chart: an event, or a phase boundary."""

    t: float
    label: str
    detail: str = ""


class Phase(NamedTuple):
    """A scenario phase's span on the chart."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    cell: str
    start: float
    end: float
    lanes: tuple[Lane, ...]
    phases: tuple[Phase, ...]
    events: tuple[Mark, ...]
    down: tuple[float, float] | None

    def in_view(self, t: float) -> bool:
        return self.start <= t <= self.end


def spans(samples: list[Sample], interval_s: float) -> tuple[Span, ...]:
    """Merge ``[t, ok, latency_ms, ...]`` samples into runs of one outcome (later fields, such
    as the target index, do not matter here)."""
    out: list[Span] = []
    ordered = sorted(samples, key=lambda s: s[0])
    for i, (t, ok, latency, *_rest) in enumerate(ordered):
        end = ordered[i + 1][0] if i + 1 < len(ordered) else t + interval_s
        last = out[-1] if out else None
        if last is not None and last.ok == bool(ok):
            out[-1] = Span(last.start, end, last.ok, last.requests + 1, max(last.max_latency_ms, latency))
        else:
            out.append(Span(t, end, bool(ok), 1, float(latency)))
    return tuple(out)


def down(d: Disruption) -> tuple[float, float] | None:
    """From the stop signal (a package upgrade's first command) until the daemon's API answered
    again: when a surviving workload is on its own. A daemon that never answered: no band."""
    if d.stop_at is None or d.api_at is None:
        return None
    return d.stop_at, d.api_at


def from_result(result: Result) -> Timeline:
    """The chart's window runs from the first phase (or probe request) to the last."""
    interval = result.timings_configured.probe_interval_s
    names = sorted(result.probes, key=lambda n: PATH_ORDER.index(n) if n in PATH_ORDER else len(PATH_ORDER))
    lanes = tuple(
        Lane(n, spans(result.probes[n].samples, interval), result.probes[n].sent, result.probes[n].failed)
        for n in names
    )
    phases = tuple(
        Phase(p.name, p.t_start, p.t_end if p.t_end is not None else p.t_start) for p in result.phases
    )
    events = tuple(Mark(e.t, e.name, e.detail) for e in result.events)
    starts = [p.start for p in phases] + [lane.spans[0].start for lane in lanes if lane.spans]
    ends = [p.end for p in phases] + [lane.spans[-1].end for lane in lanes if lane.spans]
    start, end = (min(starts), max(ends)) if starts else (0.0, 1.0)
    return Timeline(
        cell=result.cell,
        start=start,
        end=max(end, start + interval),
        lanes=lanes,
        phases=phases,
        events=events,
        down=down(result.disruption),
    )
