"""The verdict: what the node path's probe observed while the daemon was down, vs expected."""

from __future__ import annotations

import pytest

from lrmatrix.evidence import log_pressure
from lrmatrix.results.outcome import path_failures, verdict_failure


@pytest.mark.phase("teardown")
def test_verdict_matches_expectation(verdicts):
    """Asked of the outcome's own part: the run's exit code and the report decide the same way."""
    failure = verdict_failure(verdicts.verdict)
    assert failure is None, failure


@pytest.mark.phase("teardown")
def test_access_path_expectations(cell, verdicts):
    """Cells that exist to prove a path (e.g. loopback with userland-proxy off) state it."""
    if not cell.expect_paths:
        pytest.skip("this cell states no expectation beyond the node path")
    wrong = path_failures(verdicts.paths)
    assert not wrong, "; ".join(wrong)


@pytest.mark.phase("teardown")
def test_stall_at_the_predicted_horizon(cell, evidence):
    """Cells that exist to show the survival horizon: every container seen blocked in a log
    write, within 25 % of the horizon its log rate and stdout chain predicted."""
    if not cell.expect_stall:
        pytest.skip("this cell does not expect its containers to stall")
    measured = evidence.last(log_pressure.LogPressure)
    problems = log_pressure.stall_problems(measured.pressure if measured else {})
    assert not problems, "; ".join(problems)
