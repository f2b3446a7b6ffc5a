"""Probe coverage: how much of an interval the probe really watched, per path and per container.

A verdict drawn from requests that were never sent proves nothing: one OK request in a
6 s window once read as "survive". Coverage compares what was sent in an interval with what
the interval calls for (its length over the probe interval, shared among the path's
containers as the round robin shares it).

A request counts for every tick it held the probe: the probe sends the next request at the
first tick after this one ended, so a 500 ms timeout at 50 ms holds 11 ticks (the 10 it
waited and the one it overran). It was watching the path the whole time, and it counts as
sent and failed, never as missing. Its own tick counts for its container; the ticks it
overran were every container's turns, lost to the path's one thread, and count for each
container by its share. What coverage does miss is the probe not looking: a thread that
stalled (CPU starvation, the interpreter busy elsewhere), started late or stopped early.

THRESHOLD is 90 %. At 50 ms with two containers a 5 s window calls for 100 requests per
path, 50 per container; 90 % lets each container miss 5 of them (a stall of up to 250 ms
per container, or the single tick a request's overrun costs when it lands on the interval's
edge), but not a blind spot of half a second, which is longer than the restart blip the
matrix measures (200-400 ms) and would hide it. Runs on this 2-core machine cover 99-100 %
(see the README), so the margin is for load, not for normal runs.

A short interval also gets one request of slack: a respawned dockerd is back 0.3 s after the
kill, 3 requests per container, and one tick of scheduling jitter alone would take that
under 90 %. Missing at most one request is never a blind spot that could hide a blip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrmatrix.evidence.probe import Sample, Target, target_key

THRESHOLD = 0.9
#: requests a path or a container may miss whatever its ratio (short intervals)
SLACK = 1.0


@dataclass(frozen=True)
class Coverage:
    """Requests counted (with the ticks each held) against the requests the interval calls for."""

    sent: int
    counted: float
    expected: float

    @property
    def ratio(self) -> float:
        return 1.0 if self.expected <= 0 else min(1.0, self.counted / self.expected)

    def short_of(self, threshold: float) -> bool:
        """Below ``threshold``, and by more than ``SLACK`` requests, or with none sent at all
        (a container never asked cannot hide behind the slack)."""
        return self.ratio < threshold and (self.sent == 0 or self.expected - self.counted > SLACK)

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


def ticks_held(sample: Sample, interval: float) -> int:
    """The probe's ticks this request took: its own, plus every one it ran past."""
    return math.floor(sample.latency_ms / (interval * 1000)) + 1


def coverage(
    samples: list[Sample], targets: list[Target], interval: float, start: float, end: float
) -> PathCoverage:
    """Coverage of ``[start, end)``; ``targets`` is the path's round robin (each container's
    share of the ticks is its share of the targets). A request sent before ``start`` counts
    for the ticks it held inside the interval."""
    urls = [t.url for t in targets] or sorted({s.url for s in samples})
    keys = [target_key(u) for u in urls]
    share = {k: keys.count(k) / len(keys) for k in keys}
    calls_for = max(0.0, end - start) / interval
    counted = dict.fromkeys(share, 0.0)
    sent = dict.fromkeys(share, 0)

    def inside(lo: float, hi: float) -> float:
        return max(0.0, min(end, hi) - max(start, lo)) / interval

    for s in samples:
        key = target_key(s.url)
        if key not in counted:
            continue
        own_end = s.t + interval
        counted[key] += inside(s.t, own_end)
        overran = inside(own_end, s.t + ticks_held(s, interval) * interval)
        for other, part in share.items():
            counted[other] += overran * part
        if start <= s.t < end:
            sent[key] += 1
    per_target = {k: Coverage(sent[k], counted[k], calls_for * share[k]) for k in share}
    overall = Coverage(sum(sent.values()), sum(counted.values()), calls_for)
    return PathCoverage(overall, per_target)
