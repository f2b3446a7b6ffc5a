"""Probe coverage: how much of an interval the probe really watched, per path and per container.

A verdict drawn from requests that were never sent proves nothing: one OK request in a
6 s window once read as "survive". Coverage compares the requests sent in an interval with
what the interval calls for: the open-model probe sends each target (container address) one
request per tick, so an interval calls for its length over the probe interval per container.

A request is counted for its own tick, at its send time, whatever it then did (a timeout is a
sent and failed request). What coverage misses is the probe not sending: a tick skipped
because a target already had its bound of requests in flight, a scheduler that woke late
(CPU starvation), started late or stopped early.

THRESHOLD is 90 %. At 50 ms a 5 s window calls for 100 requests per container; 90 % lets
each container miss 10 of them spread over the window, but a blind spot of half a second
(10 ticks in a row) already takes it to the edge, and the restart blip the matrix measures
(200-400 ms) is far longer than the single ticks an overloaded run skips.

A short interval also gets one request of slack: a respawned dockerd is back 0.3 s after the
kill, 6 ticks at 50 ms, and where the window's edges fall on the grid decides whether 5 or 6 of
them are inside it. Missing at most one request is never a blind spot that could hide a blip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lrmatrix.evidence.probe import Sample, Target, target_key

THRESHOLD = 0.9
#: requests a path or a container may miss whatever its ratio (short intervals)
SLACK = 1.0


@dataclass(frozen=True)
class Coverage:
    """Requests sent against the requests the interval calls for (``counted`` is ``sent``:
    kept apart in the result, where /2 files of the closed-loop probe counted held ticks)."""

    sent: int
    counted: float
    expected: float
    slack: float = SLACK  # requests it may miss whatever its ratio: one per container

    @property
    def ratio(self) -> float:
        return 1.0 if self.expected <= 0 else min(1.0, self.counted / self.expected)

    def short_of(self, threshold: float) -> bool:
        """Below ``threshold``, and by more than ``SLACK`` requests, or with none sent at all
        (a container never asked cannot hide behind the slack)."""
        return self.ratio < threshold and (self.sent == 0 or self.expected - self.counted > self.slack + 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ratio": round(self.ratio, 4),
            "sent": self.sent,
            "counted": round(self.counted, 1),
            "expected": round(self.expected, 1),
        }


@dataclass(frozen=True)
class PathCoverage:
    """A path's coverage of one interval, overall and per container (target address)."""

    overall: Coverage
    targets: dict[str, Coverage]

    def gaps(self, path: str, threshold: float = THRESHOLD) -> list[str]:
        """Where coverage is below ``threshold``, in words: path, container, x/y requests."""
        found = [(f"{path} path", self.overall)] + [
            (f"{path} path {key}", c) for key, c in sorted(self.targets.items())
        ]
        return [
            f"{where}: {c.counted:.0f}/{c.expected:.0f} requests ({c.ratio:.0%})"
            for where, c in found
            if c.short_of(threshold)
        ]

    def as_dict(self, threshold: float = THRESHOLD) -> dict[str, Any]:
        return {
            **self.overall.as_dict(),
            "threshold": threshold,
            "targets": {key: c.as_dict() for key, c in sorted(self.targets.items())},
        }


def coverage(
    samples: list[Sample], targets: list[Target], interval: float, start: float, end: float
) -> PathCoverage:
    """Coverage of ``[start, end)``; ``targets`` is what the path was asked to probe (so a
    container never asked is missing, not silently absent). Requests count by send time."""
    keys = sorted({target_key(t.url) for t in targets} or {target_key(s.url) for s in samples})
    calls_for = max(0.0, end - start) / interval
    sent = dict.fromkeys(keys, 0)
    for s in samples:
        key = target_key(s.url)
        if key in sent and start <= s.t < end:
            sent[key] += 1
    per_target = {k: Coverage(n, n, calls_for) for k, n in sent.items()}
    overall = Coverage(sum(sent.values()), sum(sent.values()), calls_for * len(keys), SLACK * len(keys))
    return PathCoverage(overall, per_target)
