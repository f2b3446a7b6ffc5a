"""TCP and HTTP endpoints against real listeners on loopback: each way a request succeeds and
each way it fails, the identity header only when named, HTTPS verified against its CA file,
and what a wait that never succeeds says each endpoint answered last."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lrmatrix.deadline import poll
from lrmatrix.evidence.probe import (
    SERVED_BY,
    Probe,
    Target,
    await_targets,
    last_answers,
    new_session,
    request_once,
    wait_until_ok,
)
from prereqs import command, require


class Listener:
    """A TCP server on loopback whose connections ``serve`` handles, one thread each."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        self.accepted = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def pong(conn: socket.socket) -> None:
    """Redis-like: +PONG to PING, an error to anything else."""
    data = b""
    while b"\r\n" not in data:
        chunk = conn.recv(1024)
        if not chunk:
            return
        data += chunk
    conn.sendall(b"+PONG\r\n" if data.startswith(b"PING") else b"-ERR unknown command 'HELLO'\r\n")


def silent(conn: socket.socket) -> None:
    """Accepts and never replies (the connection stays open)."""


def banner(conn: socket.socket) -> None:
    """Speaks first, like an SMTP or SSH server, then closes."""
    conn.sendall(b"220 ready\r\n")
    conn.close()


@pytest.fixture
def listeners() -> Iterator[dict[str, Listener]]:
    made = {"pong": Listener(pong), "silent": Listener(silent), "banner": Listener(banner)}
    yield made
    for listener in made.values():
        listener.close()


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def tcp(url: str, expect: str, send: str = "") -> Target:
    return Target(url, expect, send=send, identify="")


def once(target: Target, timeout: float = 0.5):
    return request_once(new_session(), target, timeout)


# --- TCP: success ----------------------------------------------------------------------------
def test_tcp_send_and_expected_reply_succeeds(listeners):
    sample = once(tcp(listeners["pong"].url(), "+PONG", "PING\r\n"))
    assert sample.ok and sample.error == "" and sample.status == 0 and sample.latency_ms > 0


def test_tcp_without_expect_succeeds_on_an_accepted_connection(listeners):
    sample = once(tcp(listeners["silent"].url(), ""))
    assert sample.ok, sample.error
    # the kernel completed the handshake; the listener's accept() may come a moment later
    assert poll(lambda: listeners["silent"].accepted == 1, 2, 0.01)


def test_tcp_reply_without_send_a_server_that_speaks_first(listeners):
    assert once(tcp(listeners["banner"].url(), "220")).ok


# --- TCP: each failure -----------------------------------------------------------------------
def test_tcp_refused():
    sample = once(tcp(f"tcp://127.0.0.1:{refused_port()}", "+PONG", "PING\r\n"))
    assert (sample.ok, sample.error, sample.status) == (False, "Connection refused", 0)


def test_tcp_accepted_but_never_replying_times_out_within_the_timeout(listeners):
    began = time.monotonic()
    sample = once(tcp(listeners["silent"].url(), "+PONG", "PING\r\n"), timeout=0.3)
    took = time.monotonic() - began
    assert (sample.ok, sample.error) == (False, "timed out")
    assert 0.25 <= took < 1.0, f"the timeout was not honoured: {took:.2f} s"


def test_tcp_wrong_reply_names_what_came_and_what_was_expected(listeners):
    sample = once(tcp(listeners["pong"].url(), "+PONG", "HELLO\r\n"))
    assert not sample.ok
    assert sample.error == "reply \"-ERR unknown command 'HELLO'\" without '+PONG'"


def hang_up(conn: socket.socket) -> None:
    """Reads the request, then closes without a word (an orderly close, not a reset)."""
    conn.recv(1024)
    conn.close()


def test_tcp_peer_closing_without_a_reply_is_remote_disconnected():
    closing = Listener(hang_up)
    try:
        sample = once(tcp(closing.url(), "+PONG", "PING\r\n"))
    finally:
        closing.close()
    assert (sample.ok, sample.error) == (False, "RemoteDisconnected")


def test_tcp_targets_in_the_open_model_probe(listeners):
    """The scheduler sends TCP targets like HTTP ones: each judged, one connection each."""
    good = tcp(listeners["pong"].url(), "+PONG", "PING\r\n")
    bad = tcp(f"tcp://127.0.0.1:{refused_port()}", "+PONG", "PING\r\n")
    # a 1 s timeout: the listener is a thread of this process, slow on a loaded machine
    probe = Probe({"node": [good, bad]}, interval=0.02, timeout=1.0)
    probe.start()
    time.sleep(0.3)
    probe.stop()
    samples = probe.records["node"].samples
    ok = [s for s in samples if s.url == good.url]
    refused = [s for s in samples if s.url == bad.url]
    assert ok and all(s.ok for s in ok)
    assert refused and all(s.error == "Connection refused" for s in refused)
    assert listeners["pong"].accepted == len(ok), "a connection was reused"


# --- HTTP: status and identity ---------------------------------------------------------------
class Answers(BaseHTTPRequestHandler):
    """/health 200 healthy, /gone 410 gone, /busy 503; X-Served-By and X-Pod name the server;
    /chunked answers in chunks."""

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"heal", b"thy\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        answers = {"/health": (200, b"healthy\n"), "/gone": (410, b"gone\n")}
        status, body = answers.get(self.path, (503, b"busy\n"))
        self.send_response(status)
        for name, value in {SERVED_BY: "web-1", "X-Pod": "pod-a", "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_status_other_than_200_counts_as_success_when_named(http):
    assert once(Target(f"{http}/gone", "gone", status=410)).ok
    default = once(Target(f"{http}/gone", "gone"))
    assert (default.ok, default.error) == (False, "HTTP 410")
    wrong_body = once(Target(f"{http}/gone", "healthy", status=410))
    assert (wrong_body.ok, wrong_body.error) == (False, "HTTP 410: unexpected body")


def test_one_deadline_for_the_whole_reply_not_per_read():
    """A server that trickles its body a byte per 50 ms never lets one read wait long, yet the
    request ends at its timeout: the timeout bounds the exchange, as the probe's grid needs."""

    def trickle(conn: socket.socket) -> None:
        conn.recv(1024)
        body = b"healthy and slow\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for byte in body:
            time.sleep(0.05)
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    slow = Listener(trickle)
    try:
        began = time.monotonic()
        sample = once(Target(f"http://127.0.0.1:{slow.port}/", "healthy"), timeout=0.3)
        took = time.monotonic() - began
    finally:
        slow.close()
    assert (sample.ok, sample.error) == (False, "timed out")
    assert took < 0.6, f"the reply took {took:.2f} s against a 0.3 s timeout"


def test_http_chunked_body_is_read_whole(http):
    assert once(Target(f"{http}/chunked", "healthy")).ok


def test_identity_header_read_only_when_named(http):
    assert once(Target(f"{http}/health", "healthy")).served_by == "web-1", "default: X-Served-By"
    assert once(Target(f"{http}/health", "healthy", identify="X-Pod")).served_by == "pod-a"
    assert once(Target(f"{http}/health", "healthy", identify="")).served_by == "", "no header, shared address"
    # no header named: the address names the container, whatever header the response carries
    own = once(Target(f"{http}/health", "healthy", container="web-9", identify=""))
    assert own.served_by == "web-9"


def test_a_tcp_answer_is_identified_by_its_address_only(listeners):
    own = Target(listeners["pong"].url(), "+PONG", container="redis-1", send="PING\r\n", identify="")
    assert once(own).served_by == "redis-1"
    refused = Target(f"tcp://127.0.0.1:{refused_port()}", "+PONG", container="redis-2", identify="")
    assert once(refused).served_by == "", "no answer came: no one served it"


# --- HTTPS: verified against the CA file, as the API target is ----------------------------------
@pytest.fixture
def https(tmp_path: Path) -> Iterator[tuple[str, str]]:
    require(command("openssl", "openssl"))
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lrm-test",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{srv.server_address[1]}", str(cert)
    srv.shutdown()
    srv.server_close()


def test_https_verifies_against_the_given_ca_file_and_refuses_without_it(https):
    base, ca = https
    assert once(Target(f"{base}/health", "healthy", verify=ca), timeout=2).ok
    unknown = once(Target(f"{base}/health", "healthy"), timeout=2)  # the system CAs do not know it
    assert not unknown.ok and unknown.error == "SSLCertVerificationError"


# --- waiting before the probe: TCP too, and what the failing ones answered last -----------------
def test_wait_until_ok_works_for_tcp_targets(listeners):
    assert wait_until_ok([tcp(listeners["pong"].url(), "+PONG", "PING\r\n")], 2, 0.3) is not None


def test_a_wait_that_never_succeeds_names_each_failing_endpoint_and_its_last_answer(listeners, http):
    good = tcp(listeners["pong"].url(), "+PONG", "PING\r\n")
    # a second endpoint on the same port: the URL's path is only its label (answers are by URL)
    wrong = tcp(listeners["pong"].url() + "/HELLO", "+PONG", "HELLO\r\n")
    refused = tcp(f"tcp://127.0.0.1:{refused_port()}", "+PONG", "PING\r\n")
    busy = Target(f"{http}/busy", "healthy")
    awaited = await_targets([good, wrong, refused, busy], 0.3, 0.2)
    assert awaited.seconds is None
    assert awaited.answers[good.url].ok and not awaited.answers[busy.url].ok
    assert last_answers(awaited) == [  # the one that answered is not named
        f"{wrong.url}: reply \"-ERR unknown command 'HELLO'\" without '+PONG'",
        f"{refused.url}: Connection refused",
        f"{busy.url}: HTTP 503",
    ]


def test_a_wait_that_succeeds_has_no_last_answers(listeners):
    awaited = await_targets([tcp(listeners["pong"].url(), "+PONG", "PING\r\n")], 2, 0.3)
    assert awaited.seconds is not None and last_answers(awaited) == []


def test_wait_until_ok_hands_each_targets_latest_answer_to_the_caller(listeners):
    good = tcp(listeners["pong"].url(), "+PONG", "PING\r\n")
    refused = tcp(f"tcp://127.0.0.1:{refused_port()}", "+PONG", "PING\r\n")
    last: dict = {}
    assert wait_until_ok([good, refused], 0.3, 0.2, last=last) is None
    assert last[good.url].ok and last[refused.url].error == "Connection refused"
