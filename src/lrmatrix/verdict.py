"""Survive or outage, decided from the ``node`` access path's requests while the daemon was down.

Kept free of I/O so both outcomes (and the edge cases) are tested directly on samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.probe import Sample, outage_windows, per_target


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


def answers_again(samples: list[Sample], d: Disruption) -> bool:
    """Every target (container) answers again after the restart: none has a run of failures
    that began before the config change and never ended. One that ends after the change
    still counts (the probe may be waiting out a timeout while the scenario moves on); one
    that begins after the change is the change's own failure, reported as a finding."""
    if d.start_at is None or not any(s.t >= d.start_at for s in samples):
        return False
    for group in per_target(samples).values():
        for window in outage_windows(group):
            if window.end is None and (d.change_at is None or window.start < d.change_at):
                return False
    return True


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
    if not answers_again(samples, d):
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
