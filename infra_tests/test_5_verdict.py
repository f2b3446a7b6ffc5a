"""The verdict: what the node path's probe observed while the daemon was down, vs expected."""

from __future__ import annotations

import pytest


@pytest.mark.phase("teardown")
def test_verdict_matches_expectation(lrm_scenario):
    v = lrm_scenario.verdict
    assert v is not None
    assert v.passed, f"expected {v.expected}, observed {v.observed}: {v.reason}"
