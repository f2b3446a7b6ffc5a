"""A GET over a unix socket (an engine node's Docker API, read in-process): the reply read whole
as the probe reads one, and a socket nobody listens on is an OSError, never an answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
