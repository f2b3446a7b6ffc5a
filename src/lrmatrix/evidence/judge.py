"""The verdicts of a run, judged from its evidence: the ``node`` path's against the cell's
expectation, and each access path the cell states an expectation for.

Pure over the evidence, so the checks, the live line and the result ask the same question and
get the same answer. A run that stopped (an error, an interrupt) before the daemon was stopped
and started again has no behaviour to judge: its verdict says what stopped it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lrmatrix.evidence.disruption import disruption
from lrmatrix.evidence.probe import PathRecord
from lrmatrix.evidence.records import NodeFacts, ProbeEvidence
from lrmatrix.evidence.verdict import Verdict, decide, with_caveat

if TYPE_CHECKING:
    from lrmatrix.evidence.store import Evidence
    from lrmatrix.matrix.cells import Cell


@dataclass(frozen=True)
class Verdicts:
    """The cell's verdict (``node`` path) and those of the paths it names in ``expect_paths``."""

    verdict: Verdict
    paths: dict[str, Verdict] = field(default_factory=dict)

    @property
    def all(self) -> list[Verdict]:
        return [self.verdict, *self.paths.values()]


def judge(cell: Cell, evidence: Evidence, origin: float, stopped_by: str | None = None) -> Verdicts:
    """``stopped_by``: why the run did not go on (an error's words), if it did not."""
    d = disruption(evidence, origin)
    probe = evidence.last(ProbeEvidence)
    if probe is None or (stopped_by and (d.stop_at is None or d.start_at is None)):
        return Verdicts(Verdict(cell.expect, "error", stopped_by or "the probe never ran"))
    facts = evidence.last(NodeFacts)
    every = cell.timings.probe_interval_s
    records = probe.records
    node = records.get("node") or PathRecord("node", stopped="never started")
    verdict = with_caveat(decide(cell.expect, node, d, every), facts.caveat if facts else None)
    paths = {
        path: decide(expected, records.get(path) or PathRecord(path, stopped="asked"), d, every)
        for path, expected in cell.expect_paths.items()
    }
    return Verdicts(verdict, paths)
