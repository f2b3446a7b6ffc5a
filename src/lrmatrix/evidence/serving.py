"""Which container answered: the header each response carries (nginx ``$hostname`` in X-Served-By).

Behind one address (a Kubernetes NodePort) two pods are one target: a pod dead for good
hides behind the other, which answers every request. The identity each response carries
tells them apart, so a container that served before the stop and never again after the
start command is caught (``unrecovered``). On a per-container address (a published port, a
container IP) a response from another container means a client reached the wrong one: the
engine's container-IP swap without live-restore. The header is read only where a target
names it (``Target.identify``); without it a response's identity is the container owning its
address (none on a shared address), so no misdirection can be seen (``evidence/identity.py``
says which a path had).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from lrmatrix.evidence.probe import Sample, Target, target_key


@dataclass(frozen=True)
class Misdirected:
    """Responses on one container's address that another container served."""

    target: str
    expected: str
    served_by: str
    count: int
    first_t: float

    def as_dict(self, t0: float = 0.0) -> dict[str, Any]:
        return {
            "target": self.target,
            "expected": self.expected,
            "served_by": self.served_by,
            "count": self.count,
            "first_t": round(self.first_t - t0, 3),
        }


def serving(
    samples: list[Sample], stop_at: float | None, start_at: float | None, t0: float = 0.0
) -> dict[str, Any]:
    """Per container: responses it served, the last before the stop signal and the first after
    the start command (seconds since ``t0``): its own window of not serving, from identities."""
    out: dict[str, dict[str, Any]] = {}
    for s in sorted(samples, key=lambda s: s.t):
        if not s.served_by:
            continue
        entry = out.setdefault(
            s.served_by, {"served": 0, "last_before_stop": None, "first_after_start": None}
        )
        entry["served"] += 1
        if stop_at is not None and s.t < stop_at:
            entry["last_before_stop"] = round(s.t - t0, 3)
        if start_at is not None and s.t >= start_at and entry["first_after_start"] is None:
            entry["first_after_start"] = round(s.t - t0, 3)
    return out


def not_serving_again(
    samples: list[Sample], stop_at: float, start_at: float, change_at: float | None
) -> list[str]:
    """Containers that answered before the stop signal and never after the start command (up
    to the config change, whose own rollout may replace them), with no new container in their
    place: a replica that is gone. Empty when responses carry no identity."""

    def answering(lo: float, hi: float | None) -> set[str]:
        return {
            s.served_by for s in samples if s.ok and s.served_by and lo <= s.t and (hi is None or s.t < hi)
        }

    before = answering(float("-inf"), stop_at)
    after = answering(start_at, change_at)
    gone = sorted(before - after)
    return gone if len(gone) > len(after - before) else []


def awaited(samples: list[Sample], stop_at: float, start_at: float) -> set[str]:
    """Containers that answered before the stop and have not answered since the start yet:
    the probe's own evidence of recovery, which can lag a separate readiness check by one of
    its timeouts (a request that timed out holds the probe's thread)."""
    before = {s.served_by for s in samples if s.ok and s.served_by and s.t < stop_at}
    return before - {s.served_by for s in samples if s.ok and s.served_by and s.t >= start_at}


def identities_of(samples: list[Sample], targets: list[Target], containers: set[str]) -> set[str]:
    """What ``containers`` answered as: their names, and the identity that answers on their own
    addresses carried (a workload's header may name them otherwise)."""
    theirs = {target_key(t.url) for t in targets if t.container and t.container in containers}
    carried = {s.served_by for s in samples if s.ok and s.served_by and target_key(s.url) in theirs}
    return set(containers) | carried


def misdirected(samples: list[Sample], targets: list[Target]) -> list[Misdirected]:
    """Responses on a per-container address that another container served, with counts: only
    where the target names an identity header (its value is then compared with the container)."""
    owner = {target_key(t.url): t.container for t in targets if t.container and t.identify}
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], float] = {}
    for s in samples:
        key = target_key(s.url)
        expected = owner.get(key, "")
        if expected and s.served_by and s.served_by != expected:
            counts[(key, s.served_by)] += 1
            first.setdefault((key, s.served_by), s.t)
    return [Misdirected(key, owner[key], by, n, first[(key, by)]) for (key, by), n in sorted(counts.items())]
