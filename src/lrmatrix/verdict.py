"""Survive or outage, decided from the ``node`` access path's requests while the daemon was down.

Kept free of I/O so both outcomes (and the edge cases) are tested directly on samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.probe import Sample

OBSERVED = ("survive", "outage", "unrecovered", "inconclusive", "error")


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


def decide(expected: str, samples: list[Sample], down_at: float | None, up_at: float | None) -> Verdict:
    """``survive``: no failed request while down; ``outage``: failures while down, and the path
    answers again after the restart; ``unrecovered``: it never does; ``inconclusive``: the probe
    sent nothing while the daemon was down, so nothing was proven either way."""
    if down_at is None or up_at is None:
        return Verdict(expected, "error", "the daemon was never stopped and started again")
    during = [s for s in samples if down_at <= s.t < up_at]
    after = [s for s in samples if s.t >= up_at]
    if not during:
        return Verdict(expected, "inconclusive", "no request was sent while the daemon was down")
    failed = sum(1 for s in during if not s.ok)
    if not after or not after[-1].ok:
        return Verdict(
            expected,
            "unrecovered",
            f"{failed}/{len(during)} failed while down and the node path did not "
            "answer again after the restart",
        )
    if failed == 0:
        return Verdict(expected, "survive", f"0/{len(during)} requests failed while down")
    return Verdict(
        expected,
        "outage",
        f"{failed}/{len(during)} requests failed while down; answering again after the restart",
    )
