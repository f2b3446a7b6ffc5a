"""Findings: each sentence appears when the probes show it, and only then."""

from __future__ import annotations

from lrmatrix.evidence.findings import address_changes, findings, misdirected_responses

DOWN, UP = 2.0, 7.0


def path(failed_while_down=0, sent_while_down=100, windows=(), setup_error="", share=None, since=None):
    return {
        "failed_while_down": failed_while_down,
        "sent_while_down": sent_while_down,
        "windows": [list(w) for w in windows],
        "setup_error": setup_error,
        "down_failed_share": share,
        "down_failed_from_s": since,
    }


SEEN_GONE = {"before_stop": [41, 42], "gone": [], "before_start": []}


def test_loopback_failing_blames_docker_proxy_only_when_it_was_seen_gone():
    probes = {"node": path(), "loopback": path(80, windows=[(3.0, 7.1)])}
    assert findings(probes, DOWN, UP, proxies=SEEN_GONE) == [
        "loopback path fails while dockerd is down: 80/100 requests failed "
        "(docker-proxy exits with dockerd: 2 before the stop, seen gone after)"
    ]


def test_loopback_failing_without_a_docker_proxy_states_the_fact_alone():
    """The -noproxy cell: no docker-proxy existed, so none can have exited."""
    probes = {"loopback": path(3, windows=[(3.0, 3.2)])}
    fact = ["loopback path fails while dockerd is down: 3/100 requests failed"]
    assert findings(probes, DOWN, UP, proxies={"before_stop": [], "gone": [], "before_start": []}) == fact
    assert findings(probes, DOWN, UP) == fact  # not looked at (a driver that cannot)
    still_there = {"before_stop": [41], "gone": [41], "before_start": [41]}
    assert findings(probes, DOWN, UP, proxies=still_there) == fact


def test_path_that_kept_answering_is_said_too():
    assert findings({"pod": path()}, DOWN, UP) == ["pod path kept answering while dockerd was down"]


def test_node_path_is_the_verdict_not_a_finding_while_down():
    assert findings({"node": path(100, windows=[(2.1, 7.5)])}, DOWN, UP) == []


def test_failures_after_the_restart_are_a_finding_with_their_length():
    notes = findings({"node": path(windows=[(7.2, 7.45)])}, DOWN, UP)
    assert notes == ["node path failed again after dockerd started: 1 window(s), longest 250 ms"]


def test_the_nat_chain_is_named_only_when_it_was_seen_missing():
    blip = {"node": path(windows=[(7.2, 7.45)])}
    seen = {"missing": [[7.17, 7.31]], "samples": 40}
    assert findings(blip, DOWN, UP, nat=seen) == [
        "node path failed again after dockerd started: 1 window(s), longest 250 ms (the DOCKER NAT chain "
        "was seen missing at +0.17..+0.31s after the start command: dockerd re-creates it)"
    ]
    never_missing = {"missing": [], "samples": 40}
    assert findings(blip, DOWN, UP, nat=never_missing) == findings(blip, DOWN, UP)
    assert "NAT" not in findings(blip, DOWN, UP, nat=never_missing)[0]


def test_path_that_never_came_back_is_said_so_not_given_a_length():
    notes = findings({"node": path(windows=[(7.2, 7.4), (7.5, None)])}, DOWN, UP)
    assert notes == [
        "node path stopped answering 0.500s after dockerd started and did not answer again",
        "node path failed again after dockerd started: 1 window(s), longest 200 ms",
    ]


def test_failures_before_the_stop_are_reported():
    notes = findings({"node": path(windows=[(0.5, 0.6)])}, DOWN, UP)
    assert notes == ["node path failed 1 time(s) before the daemon was stopped"]


def test_probe_that_could_not_run_says_why():
    notes = findings({"loopback": path(setup_error="setns: Operation not permitted")}, DOWN, UP)
    assert notes == ["loopback path: the probe could not run (setns: Operation not permitted)"]


def test_no_disruption_no_findings():
    assert findings({"loopback": path(80)}, None, None) == []


def test_changed_container_ips_are_listed():
    before = [{"name": "a", "ip": "198.19.1.2"}, {"name": "b", "ip": "198.19.1.3"}]
    after = [{"name": "a", "ip": "198.19.1.3"}, {"name": "b", "ip": "198.19.1.2"}]
    assert address_changes(before, after) == [
        "container IPs changed across the restart: a 198.19.1.2 -> 198.19.1.3, b 198.19.1.3 -> 198.19.1.2"
    ]


def test_same_or_unknown_ips_are_no_finding():
    same = [{"name": "a", "ip": "198.19.1.2"}]
    assert address_changes(same, same) == []
    assert address_changes([{"name": "a", "ip": ""}], same) == []
    assert address_changes([], same) == []


def test_the_nat_explanation_is_only_given_for_the_node_path():
    notes = findings({"pod": path(windows=[(7.2, 7.3)])}, DOWN, UP)
    assert notes[-1] == "pod path failed again after dockerd started: 1 window(s), longest 100 ms"


def test_failures_after_the_config_change_are_not_blamed_on_the_restart():
    notes = findings({"node": path(windows=[(7.2, 7.4), (9.0, 9.1)])}, DOWN, UP, change_rel=8.0)
    assert notes[0] == "node path failed 1 time(s) after the config change"
    assert "1 window(s), longest 200 ms" in notes[1]


def test_responses_from_another_container_are_counted():
    wrong = [{"target": "http://198.19.3.2:80", "expected": "lrm-web-1", "served_by": "lrm-web-2",
              "count": 40, "first_t": 9.5}]  # fmt: skip
    assert misdirected_responses({"node": path(), "pod": {**path(), "misdirected": wrong}}) == [
        "pod path: 40 response(s) came from another container: http://198.19.3.2:80 (of lrm-web-1) "
        "answered as lrm-web-2 40 time(s) from t=9.500s"
    ]
    assert misdirected_responses({"pod": {**path(), "misdirected": []}, "node": path()}) == []


def test_the_failed_share_of_the_down_time_stands_beside_the_counts():
    """The logflood cell: 28/144 reads as 19 %; the path failed 76 % of the down time."""
    probes = {"loopback": path(28, 144, windows=[(6.8, 7.2)], share=0.76, since=4.8)}
    assert findings(probes, DOWN, UP) == [
        "loopback path fails while dockerd is down: 28/144 requests failed, "
        "failed 76% of the time dockerd was down, from +4.8 s after the stop"
    ]


def test_never_kept_answering_when_the_path_failed_during_the_down_time():
    """A window begun before the stop that lasted into the down time, no request sent while
    down failing: still not "kept answering"."""
    failing_into_it = {"pod": path(0, 100, windows=[(1.9, 2.3)], share=0.06, since=0.0)}
    said = findings(failing_into_it, DOWN, UP)
    assert not any("kept answering" in n for n in said)
    assert "pod path fails while dockerd is down: 0/100 requests failed, failed 6%" in said[0]
    assert findings({"pod": path()}, DOWN, UP) == ["pod path kept answering while dockerd was down"]
