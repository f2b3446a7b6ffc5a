"""Verdict logic in both directions, and the edge cases that must not pass silently."""

from __future__ import annotations

import pytest

from lrmatrix.probe import Sample
from lrmatrix.verdict import Disruption, decide


def samples(pattern: str, step: float = 0.1) -> list[Sample]:
    """'o' ok, 'x' failed; one sample every ``step`` seconds from t=0."""
    return [Sample(i * step, 0.0, "u", c == "o", 200 if c == "o" else 0, 1.0) for i, c in enumerate(pattern)]


# daemon down from t=1.0 to t=2.0 (samples 10..19)
D = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, api_at=2.1)


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
    assert decide("survive", samples(pattern), D).observed == observed


def test_survive_expected_and_observed_passes():
    v = decide("survive", samples("o" * 30), D)
    assert v.passed and "0/10" in v.reason


def test_survive_expected_but_outage_fails():
    v = decide("survive", samples("o" * 10 + "x" * 10 + "o" * 10), D)
    assert not v.passed and v.observed == "outage"


def test_outage_expected_and_observed_passes():
    assert decide("outage", samples("o" * 10 + "x" * 10 + "o" * 10), D).passed


def test_outage_expected_but_survive_fails():
    v = decide("outage", samples("o" * 30), D)
    assert not v.passed and v.observed == "survive"


def test_nothing_sent_while_down_is_inconclusive_not_survive():
    only_outside = [s for s in samples("o" * 30) if not 1.0 <= s.t < 2.0]
    v = decide("survive", only_outside, D)
    assert v.observed == "inconclusive" and not v.passed


def test_daemon_never_stopped_is_an_error():
    assert decide("survive", samples("o" * 30), Disruption()).observed == "error"


def two_targets(pattern_a: str, pattern_b: str, step: float = 0.1) -> list[Sample]:
    """Interleaved samples of two containers, as the probe's round robin sends them."""
    out = []
    for i, (a, b) in enumerate(zip(pattern_a, pattern_b, strict=True)):
        out.append(Sample(2 * i * step / 2, 0.0, "http://c1:80/", a == "o", 200, 1.0))
        out.append(Sample((2 * i + 1) * step / 2, 0.0, "http://c2:80/", b == "o", 200, 1.0))
    return out


def test_one_container_that_never_comes_back_is_unrecovered():
    """c1 stays dead while c2, asked last each time, answers: a view of the path as one
    sequence (its last sample is fine) would call this recovered."""
    v = decide("outage", two_targets("o" * 10 + "x" * 20, "o" * 10 + "x" * 10 + "o" * 10), D)
    assert v.observed == "unrecovered"


def test_a_failure_after_the_config_change_is_not_taken_for_no_recovery():
    samples = two_targets("o" * 10 + "x" * 10 + "o" * 5 + "x" * 5, "o" * 10 + "x" * 10 + "o" * 5 + "x" * 5)
    changed = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, api_at=2.1, change_at=2.5)
    assert decide("outage", samples, changed).observed == "outage"
    assert decide("outage", samples, D).observed == "unrecovered"


def test_a_probe_waiting_out_a_timeout_when_the_change_comes_is_not_unrecovered():
    """Seen in CI: c1's last request before the change timed out; its next one, after the
    change, succeeded. The path did answer again."""
    d = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, api_at=2.1, change_at=2.55)
    samples = two_targets("o" * 10 + "o" * 10 + "oooooxoooo", "o" * 30)
    samples = [s for s in samples if not ("c1" in s.url and 2.55 <= s.t < 2.7)]  # the timeout's gap
    assert decide("survive", samples, d).observed == "survive"


CHANGED = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, api_at=2.1, change_at=2.5)


def test_failures_that_begin_before_the_change_and_never_end_are_unrecovered():
    samples = two_targets("o" * 10 + "x" * 10 + "oo" + "x" * 8, "o" * 10 + "x" * 10 + "o" * 10)
    assert decide("outage", samples, CHANGED).observed == "unrecovered"  # c1 fails again at 2.2


def test_failures_that_begin_before_the_change_and_end_after_it_are_recovered():
    samples = two_targets("o" * 10 + "x" * 10 + "oo" + "x" * 5 + "ooo", "o" * 10 + "x" * 10 + "o" * 10)
    assert decide("outage", samples, CHANGED).observed == "outage"


def test_failures_that_begin_after_the_change_are_the_changes_not_unrecovered():
    samples = two_targets("o" * 10 + "x" * 10 + "o" * 6 + "x" * 4, "o" * 10 + "x" * 10 + "o" * 10)
    assert decide("outage", samples, CHANGED).observed == "outage"  # c1 fails from 2.6, after 2.5
    assert decide("outage", samples, D).observed == "unrecovered"  # without a change: no excuse
