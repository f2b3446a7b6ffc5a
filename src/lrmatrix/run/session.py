"""One cell run inside pytest: the runner, where its result goes, and what the session says
and returns once the node is torn down (its pass or fail is ``outcome``'s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lrmatrix.errors import INTERRUPTED, BadInput
from lrmatrix.evidence.other_containers import OtherContainers
from lrmatrix.evidence.records import Check
from lrmatrix.results import build, files
from lrmatrix.results.model import Result
from lrmatrix.results.outcome import Outcome, outcome
from lrmatrix.run.runner import Runner


@dataclass
class CellRun:
    runner: Runner
    results_dir: Path
    result: Result | None = None
    #: where the result went (``None``: not written yet)
    written: files.Written | None = None
    #: logs that could not be written beside the result
    log_problems: list[str] = field(default_factory=list)
    #: why the result did not fit the model (it was written as ``<cell>.unchecked.json``)
    unchecked: str = ""

    @property
    def path(self) -> Path | None:
        return self.written.path if self.written else None

    def finish(self) -> None:
        """Tear the node down (once), then write the result wherever it can go, and the logs
        beside it: evidence before anything optional, so a full disk takes the logs, not it."""
        runner = self.runner
        if not runner.finish():
            return
        args = (runner.cell, runner.node, runner.clock, runner.evidence, runner.status)
        try:
            self.result = build.build(*args)
        except ValueError as exc:  # a harness bug: the evidence is kept, unchecked, and said
            self.unchecked = str(exc)
            self.written = files.write_somewhere(build.document(*args), self.results_dir)
            return
        self.written = files.write_somewhere(self.result, self.results_dir)
        if self.written.path is not None:
            self.log_problems = files.write_logs(self.written.path.parent, runner.cell.name, runner.evidence)

    def outcome(self) -> Outcome | None:
        """The run's outcome once its result exists (None: the run never finished)."""
        if self.result is None:
            return None
        # a fallback place took it, or none did: ``problem`` says why either way
        return outcome(self.result, self.written.problem if self.written is not None else "")

    def exit_code(self, status: int) -> int | None:
        """The session's exit code once the run ended (None: leave pytest's own): the outcome's,
        also when the verdict's own test was deselected, unless pytest's says more (a test
        that is no node check failed, pytest's own errors)."""
        decided = self.outcome()
        if self.unchecked:
            return BadInput.exit_code if self.runner.status.interrupted is None else INTERRUPTED
        if decided is None:  # setup never ran (e.g. no test selected): nothing to undo
            return None
        if decided.exit_code == INTERRUPTED:  # not 2 ("bad input, nothing changed"): its own code
            return INTERRUPTED
        return max(status, decided.exit_code)

    def summary_lines(self) -> list[tuple[str, str | None]]:
        """What the terminal summary says: the verdict, the teardown, where the result is."""
        decided = self.outcome()
        if self.unchecked:
            written = self.written.line() if self.written else "result: NOT WRITTEN"
            return [(f"error: {self.unchecked}", "red"), (f"{written} (unchecked: a harness bug)", "red")]
        assert self.result is not None and decided is not None
        v = self.result.verdict
        lines: list[tuple[str, str | None]] = []
        if self.runner.status.setup_error is not None:
            lines.append((f"error: {self.runner.status.setup_error}", "red"))
        lines.append(
            (
                f"expected {v.expected}, observed {v.observed}: "
                f"{'PASS' if decided.passed else 'FAIL'} ({v.reason})",
                "green" if decided.passed else "red",
            )
        )
        # the verdict's reason is about the probes: a cell that failed on a check says which
        failed = [label for label in decided.failed_checks if not label.startswith("teardown/")]  # said below
        lines += [(f"failed check {label}", "red") for label in failed]
        for check in self.runner.evidence.all(Check, phase="teardown"):
            lines.append((f"teardown {check.id}: {'ok' if check.passed else check.detail}", None))
        others = self.runner.evidence.last(OtherContainers)
        lines += [(line, "yellow") for line in (others.summary() if others is not None else [])]
        if self.written is not None:  # the result goes to a fallback place rather than nowhere
            lines.append((self.written.line(), "red" if self.written.problem else None))
        lines += [(problem, "yellow") for problem in self.log_problems]
        return lines
