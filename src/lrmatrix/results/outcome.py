"""Pass or fail of a cell run, decided here and nowhere else: the run's exit code, its
summary, ``report``, ``compare`` and the verdict checks all ask this module.

A run passes when its verdict met the cell's expectation, every path verdict met its own,
every node check passed (the teardown's own checks among them) and nothing stopped it. The
verdict checks run inside the run, before the result exists: they ask ``verdict_failure``
and ``path_failures``, the same parts ``outcome`` is made of.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lrmatrix.errors import INTERRUPTED, BadInput

if TYPE_CHECKING:
    from lrmatrix.results.model import Result

#: the verdict of a run stopped by a signal (exit 130, not "failed")
STOPPED = "interrupted"
#: the first phase, entered once the node, live-restore and the workload were set up
FIRST_PHASE = "baseline"


class Judged(Protocol):
    """A verdict: the evidence's own (inside the run) or the result's."""

    @property
    def expected(self) -> str: ...

    @property
    def observed(self) -> str: ...

    @property
    def reason(self) -> str: ...


def met(verdict: Judged) -> bool:
    """The one comparison: what the run observed is what the cell expected."""
    return verdict.expected == verdict.observed


def verdict_failure(verdict: Judged) -> str | None:
    """The ``node`` path's verdict, in words, when it did not meet the expectation."""
    if met(verdict):
        return None
    return f"expected {verdict.expected}, observed {verdict.observed}: {verdict.reason}"


def path_failures(paths: Mapping[str, Judged]) -> list[str]:
    """Each access path whose verdict did not meet the expectation the cell states for it."""
    return [
        f"{path}: expected {v.expected}, observed {v.observed} ({v.reason})"
        for path, v in paths.items()
        if not met(v)
    ]


def observation_failure(
    check: str, expected: str | None, observed: str, detail: str, where: str, scenario: str
) -> str | None:
    """A scenario check's observation against the value measured for its cell ("<platform>/
    <variant>", ``where``), in words when it fails; an unmeasured one fails, saying what it saw."""
    if expected is None:
        return (
            f"{check}: observed {observed!r} ({detail}); no value is measured for {where}: add it to "
            f"[scenarios.{scenario}.expect] once a run showed it"
        )
    if expected != observed:
        return f"{check}: expected {expected!r}, observed {observed!r} ({detail})"
    return None


@dataclass(frozen=True)
class Outcome:
    """Whether the run passed, what it observed, why it failed (in words) and its exit code:
    0 passed, 1 failed, 2 could not run or its result is not where it was asked to go, 130
    stopped by a signal."""

    passed: bool
    observed: str
    reasons: tuple[str, ...] = ()
    #: the node checks that failed, as ``phase/id``
    failed_checks: tuple[str, ...] = ()
    exit_code: int = 0


def outcome(result: Result, elsewhere: str = "") -> Outcome:
    """``elsewhere``: why the result is not in the results folder (a fallback place took it,
    or none did): the behaviour is judged the same, the exit code says 2 when it passed."""
    v = result.verdict
    failed = tuple(c.label for c in result.checks if not c.passed)
    if v.observed == STOPPED:
        return Outcome(False, v.observed, (result.error or v.reason,), failed, INTERRUPTED)
    reasons = [
        *filter(None, [verdict_failure(v)]),
        *path_failures(result.path_verdicts),
        *(f"failed check {c.label}: {c.detail}" for c in result.checks if not c.passed),
        *([f"stopped: {result.error}"] if result.error else []),
    ]
    where = [f"the result is not where it was asked to go: {elsewhere}"] if elsewhere else []
    if reasons:
        set_up = any(p.name == FIRST_PHASE for p in result.phases)
        code = BadInput.exit_code if result.error and not set_up else 1
        return Outcome(False, v.observed, tuple(reasons + where), failed, code)
    return Outcome(True, v.observed, tuple(where), (), BadInput.exit_code if where else 0)
