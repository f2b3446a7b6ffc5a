"""Probe outcomes over time, per access path, with phases and events: the data of a chart.

Kept apart from ``html.py`` so the chart's numbers (spans, the daemon-down interval) can be
tested without parsing SVG, and another renderer could draw the same timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from lrmatrix.report.rows import PATH_ORDER

# a package upgrade's disruption begins with its first command; a respawn ends when the
# service manager's new dockerd is seen
DOWN_STARTS = ("daemon stopping", "daemon stopped", "upgrade starting")
DOWN_ENDS = ("daemon started", "daemon respawned")


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


def spans(samples: list[list[Any]], interval_s: float) -> tuple[Span, ...]:
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


def _interval_s(result: dict[str, Any]) -> float:
    configured = (result.get("timings_configured") or {}).get("probe_interval_s")
    return float(configured) if configured else 0.05


def _down(events: tuple[Mark, ...]) -> tuple[float, float] | None:
    """From the stop signal to the daemon being back: when a surviving workload is on its own."""
    start = next((e.t for e in events if e.label in DOWN_STARTS), None)
    end = next((e.t for e in events if e.label in DOWN_ENDS and start is not None and e.t >= start), None)
    return None if start is None or end is None else (start, end)


def from_result(result: dict[str, Any]) -> Timeline:
    """The chart's window runs from the first phase (or probe request) to the last."""
    interval = _interval_s(result)
    probes = result.get("probes") or {}
    names = sorted(probes, key=lambda n: PATH_ORDER.index(n) if n in PATH_ORDER else len(PATH_ORDER))
    lanes = tuple(
        Lane(
            n,
            spans(probes[n].get("samples") or [], interval),
            int(probes[n].get("sent", 0)),
            int(probes[n].get("failed", 0)),
        )
        for n in names
    )
    phases = tuple(
        Phase(
            str(p["name"]),
            float(p["t_start"]),
            float(p["t_end"] if p.get("t_end") is not None else p["t_start"]),
        )
        for p in result.get("phases") or []
        if p.get("t_start") is not None
    )
    events = tuple(
        Mark(float(e["t"]), str(e["name"]), str(e.get("detail") or "")) for e in result.get("events") or []
    )
    starts = [p.start for p in phases] + [lane.spans[0].start for lane in lanes if lane.spans]
    ends = [p.end for p in phases] + [lane.spans[-1].end for lane in lanes if lane.spans]
    start, end = (min(starts), max(ends)) if starts else (0.0, 1.0)
    return Timeline(
        cell=str(result["cell"]),
        start=start,
        end=max(end, start + interval),
        lanes=lanes,
        phases=phases,
        events=events,
        down=_down(events),
    )
