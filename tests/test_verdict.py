"""Verdict logic in both directions, and the edge cases that must not pass silently."""

from __future__ import annotations

import pytest

from lrmatrix.probe import Sample
from lrmatrix.verdict import decide


def samples(pattern: str, step: float = 0.1) -> list[Sample]:
    """'o' ok, 'x' failed; one sample every ``step`` seconds from t=0."""
    return [Sample(i * step, 0.0, "u", c == "o", 200 if c == "o" else 0, 1.0) for i, c in enumerate(pattern)]


# daemon down from t=1.0 to t=2.0 (samples 10..19)
DOWN, UP = 1.0, 2.0


@pytest.mark.parametrize(
    ("pattern", "observed"),
    [
        ("o" * 30, "survive"),
        ("o" * 10 + "x" * 10 + "o" * 10, "outage"),
        ("o" * 10 + "o" * 9 + "x" + "o" * 10, "outage"),  # one failure while down is an outage
        ("o" * 10 + "x" * 20, "unrecovered"),
        ("o" * 10 + "o" * 10 + "x" * 10, "unrecovered"),  # survived, then broke after restart
        ("o" * 10 + "o" * 10 + "xxo" + "o" * 7, "survive"),  # blip after restart, recovered
    ],
)
def test_observed(pattern, observed):
    assert decide("survive", samples(pattern), DOWN, UP).observed == observed


def test_survive_expected_and_observed_passes():
    v = decide("survive", samples("o" * 30), DOWN, UP)
    assert v.passed and "0/10" in v.reason


def test_survive_expected_but_outage_fails():
    v = decide("survive", samples("o" * 10 + "x" * 10 + "o" * 10), DOWN, UP)
    assert not v.passed and v.observed == "outage"


def test_outage_expected_and_observed_passes():
    assert decide("outage", samples("o" * 10 + "x" * 10 + "o" * 10), DOWN, UP).passed


def test_outage_expected_but_survive_fails():
    v = decide("outage", samples("o" * 30), DOWN, UP)
    assert not v.passed and v.observed == "survive"


def test_nothing_sent_while_down_is_inconclusive_not_survive():
    only_outside = [s for s in samples("o" * 30) if not DOWN <= s.t < UP]
    v = decide("survive", only_outside, DOWN, UP)
    assert v.observed == "inconclusive" and not v.passed


def test_daemon_never_stopped_is_an_error():
    assert decide("survive", samples("o" * 30), None, None).observed == "error"
