"""Survive or outage, decided from the ``node`` access path's requests while the daemon was down.

Kept free of I/O so both outcomes (and the edge cases) are tested directly on samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.probe import Sample, per_target


@dataclass(frozen=True)
class Disruption:
    """Monotonic times of the disruption; ``None`` where it did not happen (yet).

    "While down" is from the stop signal to the start command: a daemon that is stopping is
    already disrupting (without live-restore it stops the containers first)."""

    stop_at: float | None = None  # stop signal sent
    stopped_at: float | None = None  # the daemon is gone
    start_at: float | None = None  # start command
    api_at: float | None = None  # its API answers again
    change_at: float | None = None  # the config change: the end of "after the restart"

    def while_down(self, samples: list[Sample]) -> list[Sample]:
        if self.stop_at is None or self.start_at is None:
            return []
        return [s for s in samples if self.stop_at <= s.t < self.start_at]

    def after_restart(self, samples: list[Sample]) -> list[Sample]:
        """From the start command until the config change (which may fail on its own)."""
        if self.start_at is None:
            return []
        until = self.change_at if self.change_at is not None else float("inf")
        return [s for s in samples if self.start_at <= s.t < until]


@dataclass(frozen=True)
class Verdict:
    expected: str
    observed: str
    reason: str

    @property
    def passed(self) -> bool:
        return self.expected == self.observed

    def as_dict(self) -> dict[str, object]:
        return {
            "expected": self.expected,
            "observed": self.observed,
            "passed": self.passed,
            "reason": self.reason,
        }


def answers_again(samples: list[Sample]) -> bool:
    """Every target (container) of the path answered its last request after the restart."""
    groups = per_target(samples)
    return bool(groups) and all(max(g, key=lambda s: s.t).ok for g in groups.values())


def decide(expected: str, samples: list[Sample], d: Disruption) -> Verdict:
    """``survive``: no failed request while down; ``outage``: failures while down, and every
    target answers again after the restart; ``unrecovered``: one does not; ``inconclusive``:
    the probe sent nothing while the daemon was down, so nothing was proven either way."""
    if d.stop_at is None or d.start_at is None:
        return Verdict(expected, "error", "the daemon was never stopped and started again")
    during = d.while_down(samples)
    if not during:
        return Verdict(expected, "inconclusive", "no request was sent while the daemon was down")
    failed = sum(1 for s in during if not s.ok)
    if not answers_again(d.after_restart(samples)):
        return Verdict(
            expected,
            "unrecovered",
            f"{failed}/{len(during)} failed while down and the path did not answer again after the restart",
        )
    if failed == 0:
        return Verdict(expected, "survive", f"0/{len(during)} requests failed while down")
    return Verdict(
        expected,
        "outage",
        f"{failed}/{len(during)} requests failed while down; answering again after the restart",
    )
