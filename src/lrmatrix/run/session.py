"""One cell run inside pytest: the runner, where its result goes, and what the session says
and returns once the node is torn down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrmatrix.errors import INTERRUPTED, BadInput
from lrmatrix.evidence.disruption import disruption
from lrmatrix.evidence.other_containers import OtherContainers
from lrmatrix.evidence.records import Check
from lrmatrix.results import build, files
from lrmatrix.run.runner import Runner


@dataclass
class CellRun:
    runner: Runner
    results_dir: Path
    result: dict[str, Any] | None = None
    #: where the result went (``None``: not written yet)
    written: files.Written | None = None
    #: logs that could not be written beside the result
    log_problems: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path | None:
        return self.written.path if self.written else None

    def finish(self) -> None:
        """Tear the node down (once), then write the result wherever it can go, and the logs
        beside it: evidence before anything optional, so a full disk takes the logs, not it."""
        runner = self.runner
        if not runner.finish():
            return
        self.result = build.build(runner.cell, runner.node, runner.clock, runner.evidence, runner.status)
        self.written = files.write_somewhere(self.result, self.results_dir)
        if self.written.path is not None:
            self.log_problems = files.write_logs(self.written.path.parent, runner.cell.name, runner.evidence)

    def exit_code(self, status: int) -> int | None:
        """The session's exit code once the run ended (None: leave pytest's own)."""
        runner = self.runner
        if runner.status.interrupted is not None:  # not 2 ("bad input, nothing changed"): its own code
            return INTERRUPTED
        if not runner.status.finished:  # setup never ran (e.g. no test selected): nothing to undo
            return None
        err = runner.status.setup_error
        if err is not None:
            status = err.exit_code
        teardown_failed = any(not c.passed for c in runner.evidence.all(Check, phase="teardown"))
        # the verdict decides even when its test was deselected (-k, -m): once the daemon was
        # stopped and started again, a behaviour other than the expected one is a failed run
        d = disruption(runner.evidence)
        disrupted = d.stop_at is not None and d.start_at is not None
        misbehaved = disrupted and any(not v.passed for v in runner.verdicts().all)
        if (teardown_failed or misbehaved) and status == 0:
            return 1
        if self.written is not None and (self.written.problem or self.written.path is None) and status == 0:
            return BadInput.exit_code  # not where it was asked to go: an environment problem
        return status

    def summary_lines(self) -> list[tuple[str, str | None]]:
        """What the terminal summary says: the verdict, the teardown, where the result is."""
        assert self.result is not None
        v = self.result["verdict"]
        lines: list[tuple[str, str | None]] = []
        if self.runner.status.setup_error is not None:
            lines.append((f"error: {self.runner.status.setup_error}", "red"))
        lines.append(
            (
                f"expected {v['expected']}, observed {v['observed']}: "
                f"{'PASS' if v['passed'] else 'FAIL'} ({v['reason']})",
                "green" if v["passed"] else "red",
            )
        )
        for check in self.runner.evidence.all(Check, phase="teardown"):
            lines.append((f"teardown {check.id}: {'ok' if check.passed else check.detail}", None))
        others = self.runner.evidence.last(OtherContainers)
        lines += [(line, "yellow") for line in (others.summary() if others is not None else [])]
        if self.written is not None:  # the result goes to a fallback place rather than nowhere
            lines.append((self.written.line(), "red" if self.written.problem else None))
        lines += [(problem, "yellow") for problem in self.log_problems]
        return lines
