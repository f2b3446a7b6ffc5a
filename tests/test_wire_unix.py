"""A GET over a unix socket (an engine node's Docker API, read in-process): the reply read whole
as the probe reads one, and a socket nobody listens on is an OSError, never an answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lrmatrix.drivers.engine.node import EngineDockerd
from lrmatrix.evidence.wire import unix_http_get


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[bytes]]]:
    """A one-shot HTTP server on a unix socket that answers chunked JSON; the requests it got."""
    path, got = str(tmp_path / "api.sock"), []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            got.append(conn.recv(65536))
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            conn.sendall(head + b'7\r\n{"a": 1\r\n1\r\n}\r\n0\r\n\r\n')

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield path, got
    thread.join(timeout=5)
    listener.close()


def test_a_get_reads_the_whole_reply_and_closes(server):
    path, got = server
    reply = unix_http_get(path, "/info", 5.0)
    assert (reply.status, reply.body) == (200, b'{"a": 1}')
    assert got[0].startswith(b"GET /info HTTP/1.1\r\n") and b"Connection: close\r\n" in got[0]


def test_nobody_listening_is_an_error(tmp_path):
    with pytest.raises(OSError):
        unix_http_get(str(tmp_path / "absent.sock"), "/_ping", 1.0)


@pytest.mark.parametrize(("version_status", "ready"), [(200, True), (500, False)])
def test_an_engine_nodes_api_is_ready_when_it_answers_what_docker_version_asks(
    tmp_path, version_status, ready
):
    """/_ping alone answers before dockerd has asked containerd anything (a CI run killed a
    containerd dockerd had just started on that): ready means the ping and /version answered."""
    path, asked = str(tmp_path / "docker.sock"), []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(2)

    def answer() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                target = conn.recv(65536).split(b" ")[1].decode()
                asked.append(target)
                status = 200 if target == "/_ping" else version_status
                conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nOK".encode())

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    dockerd = EngineDockerd(SimpleNamespace(socket_path=path))  # type: ignore[arg-type]
    assert dockerd.api_ready() is ready
    thread.join(timeout=5)
    listener.close()
    assert asked == ["/_ping", "/version"]
