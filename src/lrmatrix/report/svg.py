"""One cell's timeline as inline SVG: a lane per access path, phases above, events below.

Drawn by hand (no chart library, no script) so the HTML report stays one file that opens
offline. Every text goes through ``esc``; labels are stacked so close events stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from lrmatrix.report.timeline import Timeline

WIDTH = 960
LEFT = 80  # room for the path names
RIGHT = 20
LANE_H = 22
LANE_GAP = 8
DAEMON_H = 14
ROW_H = 14  # one row of stacked labels
CHAR_W = 6.6  # a generous glyph width at 11px, so stacked labels never touch
OK, FAILED, DOWN, EVENT, BOUNDARY = "#2e7d32", "#c62828", "#ffb74d", "#1a3d7c", "#777"


def esc(text: object) -> str:
    """Every text and attribute: cell names, findings and event details come from files."""
    return escape(str(text), quote=True)


def stack(
    labels: list[tuple[float, str]], lo: float = LEFT, hi: float = WIDTH - RIGHT
) -> list[tuple[float, int, str]]:
    """Give each centred label the first row where it does not overlap the row's last label."""
    placed: list[tuple[float, int, str]] = []
    row_ends: list[float] = []
    for x, text in sorted(labels):
        half = len(text) * CHAR_W / 2
        cx = min(max(x, lo + half), hi - half)
        row = next((i for i, end in enumerate(row_ends) if end + 8 <= cx - half), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0.0)
        row_ends[row] = cx + half
        placed.append((cx, row, text))
    return placed


def _label(x: float, y: float, text: str, cls: str = "") -> str:
    extra = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{extra}>{esc(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str = "", extra: str = "") -> str:
    tip = f"<title>{esc(title)}</title>" if title else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h:.1f}" fill="{fill}"{extra}>'
        f"{tip}</rect>"
    )


def _vline(x: float, y1: float, y2: float, colour: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="3,3"' if dashed else ""
    return f'<line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y2:.1f}" stroke="{colour}"{dash}/>'


def _ticks(tl: Timeline, xs: Callable[[float], float], y: float) -> list[str]:
    span = tl.end - tl.start
    step = next(s for s in (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1e9) if span / s <= 12)
    out = [f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#444"/>']
    for k in range(math.ceil(tl.start / step), math.floor(tl.end / step) + 1):
        x = xs(k * step)
        out.append(_vline(x, y, y + 4, "#444"))
        out.append(_label(x, y + 15, f"{k * step:g} s", "tick"))
    return out


@dataclass(frozen=True)
class Frame:
    """Where things go: x for a time, and the y of each band, worked out from the labels."""

    tl: Timeline
    phase_rows: int
    event_rows: int

    def x(self, t: float) -> float:
        t = min(max(t, self.tl.start), self.tl.end)
        return LEFT + (t - self.tl.start) * (WIDTH - LEFT - RIGHT) / (self.tl.end - self.tl.start)

    @property
    def band_y(self) -> float:  # the phase band, under the phase names
        return self.phase_rows * ROW_H + 4

    @property
    def daemon_y(self) -> float:
        return self.band_y + 12

    def lane_y(self, i: int) -> float:
        return self.daemon_y + DAEMON_H + LANE_GAP + i * (LANE_H + LANE_GAP)

    @property
    def axis_y(self) -> float:
        return self.lane_y(len(self.tl.lanes)) - LANE_GAP + 6

    @property
    def event_y(self) -> float:
        return self.axis_y + 34

    @property
    def height(self) -> float:
        return self.event_y + self.event_rows * ROW_H


def _lane_name(y: float, h: float, name: str) -> str:
    return (
        f'<text x="{LEFT - 8}" y="{y + h / 2 + 4:.1f}" text-anchor="end" class="lane-name">{esc(name)}</text>'
    )


def _phases(f: Frame, labels: list[tuple[float, int, str]]) -> list[str]:
    out = []
    for i, p in enumerate(f.tl.phases):
        tip = f"{p.name}: {p.start:.3f}-{p.end:.3f} s"
        shade = "#d9dee8" if i % 2 else "#bcc5d6"
        out.append(_rect(f.x(p.start), f.band_y, f.x(p.end) - f.x(p.start), 8, shade, tip, ' class="phase"'))
        out.append(_vline(f.x(p.start), f.band_y, f.axis_y, BOUNDARY, dashed=True))
    return out + [_label(x, (row + 1) * ROW_H - 3, text, "phase-name") for x, row, text in labels]


def _daemon(f: Frame) -> list[str]:
    """A lane of its own for the daemon being down, so the probe lanes keep their colours."""
    out = [
        _lane_name(f.daemon_y, DAEMON_H, "dockerd"),
        _rect(LEFT, f.daemon_y, WIDTH - LEFT - RIGHT, DAEMON_H, "#eee"),
    ]
    if f.tl.down is not None:
        start, end = f.tl.down
        tip = f"daemon down (stop signal until its API answered): {start:.3f}-{end:.3f} s"
        out.append(_rect(f.x(start), f.daemon_y, f.x(end) - f.x(start), DAEMON_H, DOWN, tip, ' class="down"'))
        out.append(_label((f.x(start) + f.x(end)) / 2, f.daemon_y + DAEMON_H - 3, "down"))
    return out


def _probes(f: Frame) -> list[str]:
    out = []
    for i, lane in enumerate(f.tl.lanes):
        y = f.lane_y(i)
        out += [_lane_name(y, LANE_H, lane.path), _rect(LEFT, y, WIDTH - LEFT - RIGHT, LANE_H, "#eee")]
        for s in lane.spans:
            tip = (
                f"{lane.path}: {s.requests} request(s) {'ok' if s.ok else 'failed'}, "
                f"{s.start:.3f}-{s.end:.3f} s, max latency {s.max_latency_ms:.1f} ms"
            )
            colour, cls = (OK, ' class="span-ok"') if s.ok else (FAILED, ' class="span-failed"')
            out.append(_rect(f.x(s.start), y, f.x(s.end) - f.x(s.start), LANE_H, colour, tip, cls))
    return out


def _events(f: Frame, labels: list[tuple[float, int, str]]) -> list[str]:
    out = []
    for e in f.tl.events:
        if not f.tl.in_view(e.t):
            continue
        tip = f"{e.t:.3f} s {e.label} {e.detail}".strip()
        out.append(_vline(f.x(e.t), f.band_y, f.axis_y, EVENT))
        out.append(
            f'<circle cx="{f.x(e.t):.1f}" cy="{f.axis_y:.1f}" r="3" fill="{EVENT}">'
            f"<title>{esc(tip)}</title></circle>"
        )
    return out + [_label(x, f.event_y + row * ROW_H, text, "event-name") for x, row, text in labels]


def _rows(labels: list[tuple[float, int, str]]) -> int:
    return 1 + max((row for _, row, _ in labels), default=-1)


def chart(tl: Timeline) -> str:
    """The SVG element; times are seconds since the cell started, as in the result file."""
    probe = Frame(tl, 0, 0)
    phase_labels = stack([((probe.x(p.start) + probe.x(p.end)) / 2, p.name) for p in tl.phases])
    event_labels = stack([(probe.x(e.t), e.label) for e in tl.events if tl.in_view(e.t)])
    f = Frame(tl, max(1, _rows(phase_labels)), _rows(event_labels))
    label = esc(f"probe outcomes over time for {tl.cell}")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" height="{f.height:.0f}" '
        f'viewBox="0 0 {WIDTH} {f.height:.0f}" role="img" aria-label="{label}">',
        *_phases(f, phase_labels),
        *_daemon(f),
        *_probes(f),
        *_events(f, event_labels),
        *_ticks(tl, f.x, f.axis_y),
        "</svg>",
    ]
    return "\n".join(out)
