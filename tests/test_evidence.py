"""The pieces verdicts rest on: coverage, who served, the watchers' loop, the socket table."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lrmatrix.evidence.coverage import coverage
from lrmatrix.evidence.probe import PathRecord, Sample, Target, new_session, request_once
from lrmatrix.evidence.serving import misdirected, not_serving_again, serving
from lrmatrix.evidence.verdict import Disruption
from lrmatrix.evidence.watchers import NatWatch, every
from lrmatrix.modules.procfs import listening_unix_socket
from lrmatrix.report.rows import row_from_result
from lrmatrix.report.table import table_cells
from lrmatrix.results import files as results
from lrmatrix.results.files import summarize_path
from lrmatrix.results.model import Coverage, PathSummary

RUN_A = Path(__file__).parent / "data" / "run-a"


def ok(t: float, url: str = "http://c1:80/", served_by: str = "", latency: float = 1.0) -> Sample:
    return Sample(t, 0.0, url, True, 200, latency, "", served_by)


def test_coverage_per_container_is_one_request_per_tick_whatever_its_endpoints():
    targets = [Target("http://c1:80/", "x"), Target("http://c2:80/", "x"), Target("http://c1:80/h", "x")]
    samples = [ok(i * 0.1, "http://c1:80/") for i in range(10)]  # c2 never asked
    cov = coverage(samples, targets, 0.1, 0.0, 1.0)
    assert cov.targets["http://c1:80"].expected == pytest.approx(10)
    assert cov.targets["http://c1:80"].ratio == 1.0
    assert cov.targets["http://c2:80"].ratio == 0.0 and cov.targets["http://c2:80"].sent == 0
    assert cov.overall.expected == pytest.approx(20) and cov.overall.ratio == pytest.approx(0.5)
    assert cov.gaps("node") == [
        "node path: 10/20 requests (50%)",
        "node path http://c2:80: 0/10 requests (0%)",
    ]


def test_a_request_counts_at_its_send_time_only():
    """A timeout sent before the interval is not counted in it, however long it ran into it:
    the ticks inside were the probe's to send, and an open-model probe sends them."""
    timeout = Sample(0.9, 0, "http://c1:80/", False, 0, 500.0, "timed out")
    cov = coverage([timeout], [Target("http://c1:80/", "x")], 0.1, 1.0, 1.5)
    assert cov.overall.counted == 0 and cov.overall.sent == 0 and cov.gaps("node")


def test_timeouts_every_tick_are_full_coverage_and_skipped_ticks_are_not():
    """c1 times out every time, each tick still sends: covered. Ticks skipped (its bound in
    flight) leave holes that count against it, and only against it."""
    targets = [Target("http://c1:80/", "x"), Target("http://c2:80/", "x")]
    every = [
        ok(i * 0.05, "http://c2:80/") if c == "c2" else Sample(i * 0.05, 0, "http://c1:80/", False, 0, 500.2)
        for i in range(120)
        for c in ("c1", "c2")
    ]
    cov = coverage(every, targets, 0.05, 0.0, 6.0)
    assert cov.overall.ratio == pytest.approx(1.0) and cov.gaps("node") == []
    holes = [s for s in every if not ("c1" in s.url and 20 <= round(s.t / 0.05) < 40)]
    gaps = coverage(holes, targets, 0.05, 0.0, 6.0).gaps("node")
    assert gaps == ["node path http://c1:80: 100/120 requests (83%)"]


def test_serving_windows_per_container_from_the_identity():
    samples = [ok(0.0, served_by="a"), ok(0.1, served_by="b"), ok(2.0, served_by="b"), ok(2.1, served_by="a")]
    assert serving(samples, stop_at=1.0, start_at=1.5) == {
        "a": {"served": 2, "last_before_stop": 0.0, "first_after_start": 2.1},
        "b": {"served": 2, "last_before_stop": 0.1, "first_after_start": 2.0},
    }
    assert not_serving_again(samples, 1.0, 1.5, None) == []
    assert not_serving_again(samples[:3], 1.0, 1.5, None) == ["a"]
    assert not_serving_again(samples[:3], 1.0, 1.5, change_at=2.05) == ["a"]  # after the change: not counted
    assert not_serving_again([ok(0.0), ok(2.0)], 1.0, 1.5, None) == []  # no identity: nothing to judge


def test_a_response_from_another_container_on_its_address_is_counted():
    targets = [Target("http://198.19.3.2:80/", "x", container="lrm-web-1"), Target("http://node:30081/", "x")]
    samples = [
        ok(0.0, "http://198.19.3.2:80/", "lrm-web-1"),
        ok(1.0, "http://198.19.3.2:80/", "lrm-web-2"),
        ok(1.1, "http://198.19.3.2:80/", "lrm-web-2"),
        ok(1.2, "http://node:30081/", "pod-x"),  # a shared address has no owner
    ]
    [wrong] = misdirected(samples, targets)
    assert (wrong.target, wrong.expected, wrong.served_by, wrong.count, wrong.first_t) == (
        "http://198.19.3.2:80", "lrm-web-1", "lrm-web-2", 2, 1.0,
    )  # fmt: skip
    assert misdirected(samples[:1] + samples[3:], targets) == []


class Named(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Served-By", "lrm-web-7")
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"healthy\n")

    def log_message(self, *args):
        pass


def test_the_probe_records_who_served_each_request():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Named)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/health"
        assert request_once(new_session(), Target(url, "healthy"), 1).served_by == "lrm-web-7"
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_result_carries_coverage_and_identities():
    targets = [Target("http://c1:80/", "x", container="lrm-web-1")]
    record = PathRecord(
        "node", [ok(i * 0.1, served_by="lrm-web-1") for i in range(30)], targets, stopped="asked"
    )
    out = summarize_path(record, 0.0, Disruption(stop_at=1.0, start_at=2.0), 0.1)
    assert out["coverage"]["ratio"] == 1.0 and out["coverage"]["targets"]["http://c1:80"]["sent"] == 10
    assert out["coverage"]["threshold"] == 0.9
    assert out["servers"] == ["lrm-web-1"] and out["samples"][0][4] == 0
    assert summarize_path(record, 0.0, Disruption(), 0.1)["coverage"] is None  # no down interval
    # what the writer validates before a file is written: a key added here and not in the model
    # would cost a disrupted node's result, so it fails here first
    for d in (Disruption(stop_at=1.0, start_at=2.0, api_at=2.1), Disruption()):
        PathSummary.model_validate_json(json.dumps(summarize_path(record, 0.0, d, 0.1)))


def test_reports_show_coverage_and_old_results_without_it_still_load():
    assert "coverage" not in json.loads((RUN_A / "engine-liverestore.json").read_text())["probes"]["node"]
    old = results.load(RUN_A / "engine-liverestore.json")
    header, body = table_cells([row_from_result(old)])
    assert header[5] == "node failed-while-down (share of down time) / longest outage / coverage"
    assert body[0][5].endswith(" -")

    def share(ratio: float) -> dict:
        return {"ratio": ratio, "sent": 10, "counted": 10.0 * ratio, "expected": 10.0}

    low = {
        **share(1.0),
        "threshold": 0.9,
        "targets": {"http://c1:80": share(0.5), "http://c2:80": share(1.0)},
    }
    old.probes["node"].coverage = Coverage.model_validate(low)
    assert table_cells([row_from_result(old)])[1][0][5].endswith(" 50%")  # the weakest container


def test_every_stops_when_asked_when_the_step_says_so_and_at_its_limit():
    calls: list[float] = []
    stop = threading.Event()
    every(0.01, lambda: calls.append(time.monotonic()) or len(calls) < 3, stop, 5.0)
    assert len(calls) == 3
    calls.clear()
    every(0.01, lambda: calls.append(0) is None, stop, 0.05)  # bounded in time
    assert 1 <= len(calls) <= 10
    stop.set()
    calls.clear()
    every(0.01, lambda: calls.append(0) is None, stop, 5.0)
    assert calls == []


def test_nat_watch_spans_of_a_missing_chain():
    watch = NatWatch(node=None, period=0.02)  # type: ignore[arg-type] - only its samples are read
    watch.samples = [(1.0, 2), (1.1, 0), (1.2, None), (1.3, None), (1.4, 1), (1.5, None), (1.6, 2)]
    assert watch.missing() == [(1.2, 1.3), (1.5, 1.5)]
    watch.samples = [(1.0, 2), (1.1, 0)]
    assert watch.missing() == []


UNIX = """Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 20512 /run/docker.sock
0000000000000000: 00000003 00000000 00000000 0001 03 20999 /run/containerd/containerd.sock
"""


def test_a_listening_socket_is_read_from_proc_net_unix_not_by_connecting():
    assert listening_unix_socket(UNIX, "/var/run/docker.sock")  # /var/run is /run
    assert not listening_unix_socket(UNIX, "/run/containerd/containerd.sock")  # connected, not listening
    assert not listening_unix_socket(UNIX.splitlines()[0], "/run/docker.sock")


def test_awaited_names_containers_the_probe_has_not_seen_answer_since_the_start():
    from lrmatrix.evidence.probe import Sample
    from lrmatrix.evidence.serving import awaited

    def ok(t: float, who: str) -> Sample:
        return Sample(t, t, "http://x", True, 200, 1.0, served_by=who)

    before = [ok(1.0, "a"), ok(1.1, "b")]
    assert awaited(before, stop_at=2.0, start_at=5.0) == {"a", "b"}
    assert awaited([*before, ok(5.5, "a")], stop_at=2.0, start_at=5.0) == {"b"}
    assert awaited([*before, ok(5.5, "a"), ok(5.6, "b")], stop_at=2.0, start_at=5.0) == set()


def test_identities_of_a_stopped_container_are_its_name_and_what_its_own_address_answered_as():
    from lrmatrix.evidence.serving import awaited, identities_of

    targets = [Target(f"http://n:808{i}/", "x", container=f"web-{i}") for i in (1, 2)]
    before = [ok(1.0, "http://n:8081/", "host-a"), ok(1.1, "http://n:8082/", "host-b")]
    assert identities_of(before, targets, {"web-1"}) == {"web-1", "host-a"}
    assert identities_of(before, targets, set()) == set()
    # the recovery wait goes on for the other container only: host-a will not answer again
    gone = identities_of(before, targets, {"web-1"})
    assert awaited(before, stop_at=2.0, start_at=5.0) - gone == {"host-b"}
