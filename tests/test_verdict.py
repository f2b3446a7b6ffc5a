"""Verdict logic in both directions, and the edge cases that must not pass silently."""

from __future__ import annotations

import pytest

from lrmatrix.evidence.probe import PathRecord, Sample, Target
from lrmatrix.evidence.verdict import Disruption, Verdict
from lrmatrix.evidence.verdict import decide as decide_on_record
from lrmatrix.results.outcome import met


def decide(expected: str, samples: list[Sample], d: Disruption, interval: float = 0.1, **record) -> Verdict:
    """The verdict on one path's samples, its thread having stopped when asked unless said."""
    return decide_on_record(
        expected, PathRecord("node", samples, **{"stopped": "asked", **record}), d, interval
    )


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
    assert met(v) and "0/10" in v.reason


def test_survive_expected_but_outage_fails():
    v = decide("survive", samples("o" * 10 + "x" * 10 + "o" * 10), D)
    assert not met(v) and v.observed == "outage"


def test_outage_expected_and_observed_passes():
    assert met(decide("outage", samples("o" * 10 + "x" * 10 + "o" * 10), D))


def test_outage_expected_but_survive_fails():
    v = decide("outage", samples("o" * 30), D)
    assert not met(v) and v.observed == "survive"


def test_nothing_sent_while_down_is_inconclusive_not_survive():
    only_outside = [s for s in samples("o" * 30) if not 1.0 <= s.t < 2.0]
    v = decide("survive", only_outside, D)
    assert v.observed == "inconclusive" and not met(v)


def test_daemon_never_stopped_is_an_error():
    assert decide("survive", samples("o" * 30), Disruption()).observed == "error"


def two_targets(pattern_a: str, pattern_b: str, step: float = 0.1) -> list[Sample]:
    """Samples of two containers, each asked at every tick as the open-model probe does."""
    out = []
    for i, (a, b) in enumerate(zip(pattern_a, pattern_b, strict=True)):
        out.append(Sample(i * step, 0.0, "http://c1:80/", a == "o", 200, 1.0))
        out.append(Sample(i * step + 0.001, 0.0, "http://c2:80/", b == "o", 200, 1.0))
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


# --- evidence: coverage, a probe that stopped, a daemon that came back, who served ----------


def test_one_ok_request_in_a_long_window_is_inconclusive_not_survive():
    """The issue's case: one OK sample in a 6 s window once read "survive, 0/1 failed"."""
    d = Disruption(stop_at=1.0, stopped_at=1.1, start_at=7.0, api_at=7.1)
    lone = [Sample(t, 0, "http://n:8081/", True, 200, 1.0) for t in (0.5, 3.0, 7.5)]
    v = decide("survive", lone, d, 0.05)
    assert v.observed == "inconclusive" and not met(v)
    assert "node path: 1/120 requests (1%)" in v.reason


@pytest.mark.parametrize(("kept", "observed"), [(9, "survive"), (8, "inconclusive")])
def test_coverage_threshold_both_ways(kept, observed):
    """10 requests called for while down; 90 % is enough, 80 % is not."""
    pattern = samples("o" * 30)
    dropped = [s for i, s in enumerate(pattern) if not 10 + kept <= i < 20]
    assert decide("survive", dropped, D).observed == observed


def test_timed_out_requests_count_as_sent_and_failed_never_as_missing():
    """A 500 ms timeout at 50 ms: the open-model probe still sends at every tick, so every
    tick while down is a sent request that failed, judged at its send time."""
    before = [Sample(i * 0.05, 0, "http://n:80/", True, 200, 1.0) for i in range(20)]
    down = [Sample(1.0 + i * 0.05, 0, "http://n:80/", False, 0, 500.4, "timed out") for i in range(44)]
    after = [Sample(3.2 + i * 0.05, 0, "http://n:80/", True, 200, 1.0) for i in range(20)]
    d = Disruption(stop_at=1.0, stopped_at=1.1, start_at=3.2, api_at=3.3)
    v = decide("outage", before + down + after, d, 0.05)
    assert v.observed == "outage", v.reason
    assert "44/44 requests failed" in v.reason
    one_at_a_time = before + down[::11] + after  # the closed loop's view: 4 requests in 2.2 s
    assert decide("outage", one_at_a_time, d, 0.05).observed == "inconclusive"


def test_a_container_the_probe_stopped_asking_is_named_in_the_gap():
    both = two_targets("o" * 30, "o" * 30)
    c2_missing_while_down = [s for s in both if not ("c2" in s.url and 1.0 <= s.t < 2.0)]
    v = decide("survive", c2_missing_while_down, D)
    assert v.observed == "inconclusive"
    assert "node path http://c2:80: 0/10 requests (0%)" in v.reason
    assert "http://c1:80" not in v.reason  # the container that was covered is not blamed
    assert decide("survive", both, D).observed == "survive"


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"stopped": "time limit"}, "the node probe stopped early (time limit)"),
        ({"stopped": "request limit"}, "stopped early (request limit)"),
        ({"stopped": "error: RuntimeError: boom"}, "stopped early (error: RuntimeError: boom)"),
        ({"stopped": ""}, "stopped early (still running when asked to stop)"),
        ({"setup_error": "setns: Operation not permitted"}, "could not run: setns: Operation not permitted"),
    ],
)
def test_a_probe_thread_that_stopped_early_is_inconclusive(record, says):
    v = decide("survive", samples("o" * 30), D, **record)
    assert v.observed == "inconclusive" and says in v.reason
    assert decide("survive", samples("o" * 30), D).observed == "survive"  # the same, stopped when asked


def test_a_daemon_that_came_back_by_itself_is_an_error_never_survive():
    back = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, api_at=2.1, came_back_at=1.5,
                      came_back="dockerd (pid 77) is running", origin=0.25)  # fmt: skip
    v = decide("survive", samples("o" * 30), back)
    assert v.observed == "error"
    assert v.reason == "the daemon came back at t=1.250s by itself (dockerd (pid 77) is running)"
    assert decide("survive", samples("o" * 30), D).observed == "survive"


def behind_one_port(before: str, after: str) -> list[Sample]:
    """A NodePort: every request to one address, served by the pod each letter names."""
    names = {"a": "web-a", "b": "web-b"}
    return [
        Sample(i * 0.05, 0, "http://node:30081/", True, 200, 1.0, "", names[c])
        for i, c in enumerate(before * 20 + "a" * 20 + after * 20)
    ]


def test_a_pod_that_never_serves_again_behind_one_nodeport_is_unrecovered():
    d = Disruption(stop_at=2.0, stopped_at=2.1, start_at=3.0, api_at=3.1)
    v = decide("outage", behind_one_port("ab", "a"), d, 0.05)
    assert v.observed == "unrecovered" and "web-b never served again" in v.reason
    assert decide("survive", behind_one_port("ab", "ab"), d, 0.05).observed == "survive"


def test_a_replica_replaced_by_a_new_pod_is_recovered():
    d = Disruption(stop_at=2.0, stopped_at=2.1, start_at=3.0, api_at=3.1)
    replaced = [
        s if s.served_by != "web-b" or s.t < 2.0 else Sample(s.t, 0, s.url, True, 200, 1.0, "", "web-c")
        for s in behind_one_port("ab", "ab")
    ]
    assert decide("survive", replaced, d, 0.05).observed == "survive"


def test_a_container_of_the_round_robin_never_asked_is_a_gap():
    """Coverage is judged on the probe's own target list, so a container that got no request
    at all is missing rather than silently absent from the per-container figures."""
    targets = [Target(f"http://c{i}:80/", "x", container=f"c{i}") for i in (1, 2, 3)]
    record = PathRecord("node", two_targets("o" * 30, "o" * 30), targets, stopped="asked")
    v = decide_on_record("survive", record, D, 0.1)
    assert v.observed == "inconclusive" and "http://c3:80: 0/10 requests" in v.reason
    record.targets = targets[:2]
    assert decide_on_record("survive", record, D, 0.1).observed == "survive"


@pytest.mark.parametrize(("stopped_at", "observed"), [(None, "inconclusive"), (1.1, "survive")])
def test_a_daemon_never_seen_gone_proves_nothing(stopped_at, observed):
    """A package upgrade that never restarted dockerd disrupted nothing: no survive from it."""
    d = Disruption(stop_at=1.0, stopped_at=stopped_at, start_at=2.0, api_at=2.1)
    verdict = decide("survive", samples("o" * 30), d)
    assert verdict.observed == observed
    if stopped_at is None:
        assert "never seen gone" in verdict.reason


@pytest.mark.parametrize(("kept", "observed"), [(2, "survive"), (1, "inconclusive")])
def test_a_short_window_may_miss_one_request_not_two(kept, observed):
    """A respawn's 0.3 s (3 requests called for): one missed tick is jitter, two are not."""
    d = Disruption(stop_at=1.0, stopped_at=1.01, start_at=1.3, api_at=1.35)
    pattern = samples("o" * 30)
    dropped = [s for i, s in enumerate(pattern) if not 10 + kept <= i < 13]
    assert decide("survive", dropped, d).observed == observed


def test_the_slack_never_covers_a_container_that_was_not_asked():
    from lrmatrix.evidence.coverage import coverage

    targets = [Target("http://c1:80/", "x"), Target("http://c2:80/", "x")]
    only_c1 = [Sample(1.0 + i * 0.1, 0, "http://c1:80/", True, 200, 1.0) for i in range(2)]
    gaps = coverage(only_c1, targets, 0.1, 1.0, 1.1).gaps("node")  # c2 called for once, asked never
    assert gaps == ["node path http://c2:80: 0/1 requests (0%)"]


# --- a daemon (or a new engine) that never answered again is never survive ------------------
REFUSED = "the new engine (docker26) did not start: dockerd did not start on lrm1: overlay2: unknown option"
NOT_BACK = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, not_back=REFUSED)


@pytest.mark.parametrize(
    "pattern",
    ["o" * 30, "o" * 10 + "x" * 10 + "o" * 10, "o" * 10 + "x" * 20],
    ids=["answered-throughout", "failed-while-down", "never-answered-again"],
)
def test_a_daemon_whose_api_never_answered_again_is_an_error_whatever_the_probe_saw(pattern):
    """With live-restore the containers answer on while the new engine refuses to start: the
    probe sees a perfect window, and the daemon never came back. Seen on main as a survive."""
    v = decide("survive", samples(pattern), NOT_BACK)
    assert v.observed == "error" and not met(v)
    assert v.reason.startswith(REFUSED)
    failed = pattern[10:20].count("x")
    said = f"; {failed}/10 requests failed on the node path while down"
    share = " (failed 100% of the time dockerd was down, from +0.0 s after the stop)" if failed else ""
    assert v.reason.endswith(said + share)
    assert not met(decide("outage", samples(pattern), NOT_BACK))  # an outage expectation neither


def test_the_same_samples_with_the_api_back_are_judged_on_them():
    back = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0, api_at=2.1)
    assert decide("survive", samples("o" * 30), back).observed == "survive"
    assert decide("outage", samples("o" * 10 + "x" * 10 + "o" * 10), back).observed == "outage"


def test_no_reason_recorded_still_says_the_api_never_answered():
    d = Disruption(stop_at=1.0, stopped_at=1.1, start_at=2.0)
    v = decide("survive", samples("o" * 30), d)
    assert v.observed == "error"
    never = "the daemon's API never answered after the start"
    assert v.reason == f"{never}; 0/10 requests failed on the node path while down"
    # a probe that saw nothing while down says nothing of it
    assert decide("survive", [], d).reason == never


def test_an_outage_says_the_failed_share_of_the_down_time_and_from_when():
    """Half the down time failing, from +0.5 s: 5/10 requests, and 50 % of the time."""
    v = decide("outage", samples("o" * 15 + "x" * 5 + "o" * 10), D)
    assert v.observed == "outage"
    assert "5/10 requests failed while down (failed 50% of the time dockerd was down, from +0.5 s" in v.reason
    assert "failed 100% of the time" in decide("outage", samples("o" * 10 + "x" * 10 + "o" * 10), D).reason
    assert "of the time" not in decide("survive", samples("o" * 30), D).reason
