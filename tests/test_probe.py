"""The probe against a real HTTP server on loopback: counts, windows and resolution."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lrmatrix.deadline import poll
from lrmatrix.evidence.probe import (
    Probe,
    Sample,
    Target,
    interval_stats,
    new_session,
    outage_windows,
    path_outages,
    recovery_after,
    request_once,
    wait_until_ok,
)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"healthy\n" if self.path == "/health" else b"other\n"
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv, path):
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def test_request_once_ok_and_body_mismatch_and_status(server):
    s = new_session()
    assert request_once(s, Target(url(server, "/health"), "healthy"), 1).ok
    wrong = request_once(s, Target(url(server, "/other"), "healthy"), 1)
    assert not wrong.ok and "unexpected body" in wrong.error
    missing = request_once(s, Target(url(server, "/missing"), "x"), 1)
    assert not missing.ok and missing.status == 404


def test_refused_connection_is_a_failed_sample(server):
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    sample = request_once(new_session(), Target(f"http://127.0.0.1:{port}/health", "healthy"), 0.5)
    assert not sample.ok and sample.error == "Connection refused"


def test_each_request_uses_a_new_connection(server):
    seen = []
    original = Handler.do_GET

    def spy(self):
        seen.append(self.client_address[1])
        original(self)

    Handler.do_GET = spy
    try:
        s = new_session()
        for _ in range(3):
            request_once(s, Target(url(server, "/health"), "healthy"), 1)
    finally:
        Handler.do_GET = original
    assert len(set(seen)) == 3, "keep-alive reused a connection"


def test_probe_records_outage_window_when_server_goes_away(server):
    target = Target(url(server, "/health"), "healthy")
    probe = Probe({"node": [target]}, interval=0.02, timeout=0.2)
    samples = probe.records["node"].samples
    probe.start()
    assert poll(lambda: any(s.ok for s in samples), 10, 0.02), "never answered"
    server.shutdown()
    server.server_close()
    assert poll(lambda: any(not s.ok for s in samples), 10, 0.02), "never failed"
    probe.stop()
    rec = probe.records["node"]
    assert any(s.ok for s in rec.samples) and any(not s.ok for s in rec.samples)
    windows = outage_windows(rec.samples)
    assert len(windows) == 1 and windows[0].end is None


def test_probe_is_bounded_by_max_seconds(server):
    probe = Probe({"node": [Target(url(server, "/health"), "healthy")]}, 0.01, 0.2, max_seconds=0.2)
    probe.start()
    record = probe.records["node"]
    assert poll(lambda: record.stopped, 10, 0.05) == "time limit"  # it ends itself, not stop()
    sent = len(record.samples)
    probe.stop()
    assert 0 < sent <= 0.2 / 0.01 + 2


def test_wait_until_ok_waits_for_every_target_and_gives_up_at_its_deadline(server):
    health = Target(url(server, "/health"), "healthy")
    took = wait_until_ok([health, Target(url(server, "/other"), "other")], 5, 1)
    assert took is not None and took < 5
    never = Target(url(server, "/missing"), "x")
    began = time.monotonic()
    assert wait_until_ok([health, never], 0.3, 1) is None
    assert time.monotonic() - began >= 0.3


def mk(pattern, step=0.1):
    return [Sample(i * step, 0, "u", c == "o", 0, 1) for i, c in enumerate(pattern)]


def test_windows_span_first_failure_to_next_success():
    windows = outage_windows(mk("ooxxxoooxo"))
    assert [(round(w.start, 1), round(w.end, 1), w.failed) for w in windows] == [(0.2, 0.5, 3), (0.8, 0.9, 1)]


def test_no_failures_no_windows():
    assert outage_windows(mk("oooo")) == []


def test_interval_stats():
    stats = interval_stats(mk("ooooo", step=0.05))
    assert stats["mean_ms"] == pytest.approx(50, abs=0.01)
    assert stats["stdev_ms"] == pytest.approx(0, abs=0.01)


def test_interval_stats_leave_out_gaps_after_a_slow_request():
    grid = [Sample(i * 0.05, 0, "u", True, 200, 1.0) for i in range(10)]
    slow = Sample(0.5, 0, "u", False, 0, 500.0)  # timed out: the next send is 0.55 s later
    after = [Sample(1.05 + i * 0.05, 0, "u", True, 200, 1.0) for i in range(10)]
    with_slow = [*grid, slow, *after]
    assert interval_stats(with_slow)["stdev_ms"] > 100
    assert interval_stats(with_slow, 0.05)["stdev_ms"] == pytest.approx(0, abs=0.01)


def round_robin(*patterns: str, step: float = 0.05) -> list[Sample]:
    """One sample per tick, cycling over containers c0, c1, ... as the probe does."""
    out, t = [], 0.0
    for i in range(len(patterns[0])):
        for n, pattern in enumerate(patterns):
            out.append(Sample(t, 0, f"http://c{n}:80/health", pattern[i] == "o", 200, 1.0))
            t += step
    return out


def test_one_dead_container_is_not_hidden_by_the_other_answering():
    samples = round_robin("o" * 60, "o" * 5 + "x" * 50 + "o" * 5)  # c1 down for 50 of its turns
    outages = path_outages(samples)
    assert outages.longest_s == pytest.approx(50 * 0.1, abs=0.01)
    assert len(outages.windows) == 1
    assert outage_windows(samples)[0].duration(0) < 0.2, "the mixed view would have said 'blips'"


def test_whole_path_outage_merges_the_targets_windows():
    outages = path_outages(round_robin("oo" + "x" * 10 + "oo", "oo" + "x" * 10 + "oo"))
    assert len(outages.windows) == 1 and outages.windows[0].end is not None


def test_recovery_is_measured_per_target_from_the_given_moment():
    samples = round_robin("o" * 5 + "x" * 10 + "o" * 5, "o" * 5 + "x" * 12 + "o" * 3)
    since = 1.2  # during the outage: c0 answers again at 1.5 s, c1 (the last) at 1.75 s
    assert recovery_after(samples, since) == pytest.approx(0.55)
    assert recovery_after(samples, samples[-1].t) == 0.0, "nothing failing then: 0"
    assert recovery_after(round_robin("oxxx", "oooo"), 0.1) is None, "never answered again"
