"""One exchange on a fresh connection, HTTP(S) or plain TCP, within one deadline.

The probe's hot path: 120 requests/s at the default shape. ``requests`` costs ~1.4 ms of CPU a
request on the development machine (a session, adapters, a pool per request, cookie and
redirect machinery), which kept the probe at a fifth of a core; a socket, one ``sendall`` and a
small parser cost a fraction of that. Each exchange opens its own connection and closes it
(no keep-alive: a kept-alive connection hides a dead proxy or listener), and the timeout is
one deadline for connect, TLS handshake, send and the whole reply, not a per-read allowance.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

#: the most of a reply kept: a probe endpoint answers a few bytes; a huge body is not read on
MAX_REPLY = 1 << 20


class WireError(OSError):
    """A failed exchange with the short text the probe records ("RemoteDisconnected", ...)."""


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (names lower-case) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


class TlsContexts:
    """SSL contexts per ``verify`` value (True, a CA file, False), built once: loading a CA
    file per request would cost more than the request."""

    def __init__(self) -> None:
        self._made: dict[bool | str, ssl.SSLContext] = {}

    def get(self, verify: bool | str) -> ssl.SSLContext:
        """Two threads may both build one on first use; either is right, and no lock is paid
        per request."""
        if verify not in self._made:
            if verify is False:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                ctx = ssl.create_default_context(cafile=None if verify is True else verify)
            self._made[verify] = ctx
        return self._made[verify]


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _connect(host: str, port: int, deadline: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=_remaining(deadline))


def _recv(sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(_remaining(deadline))
    return sock.recv(65536)


def http_get(url: str, timeout: float, tls: TlsContexts, verify: bool | str = True) -> Reply:
    """GET ``url`` with ``Connection: close``; the reply read whole (Content-Length, chunked or
    to the end) by ``timeout`` seconds from now."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock = _connect(host, port, deadline)
    try:
        if https:
            sock.settimeout(_remaining(deadline))
            sock = tls.get(verify).wrap_socket(sock, server_hostname=host)
        return _get(sock, parts.netloc.rsplit("@", 1)[-1], target, deadline)
    finally:
        sock.close()


def unix_http_get(path: str, target: str, timeout: float) -> Reply:
    """GET ``target`` from an HTTP server on the unix socket ``path`` (a node's Docker API),
    with the same deadline and reply reading as ``http_get``."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(_remaining(deadline))
        sock.connect(path)
        return _get(sock, "docker", target, deadline)
    finally:
        sock.close()


def _get(sock: socket.socket, hostport: str, target: str, deadline: float) -> Reply:
    """One GET with ``Connection: close`` on a connected socket, its reply read whole."""
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: lrmatrix-probe\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    )
    sock.settimeout(_remaining(deadline))
    sock.sendall(request.encode("latin-1"))
    return _read_reply(sock, deadline)


def _read_reply(sock: socket.socket, deadline: float) -> Reply:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise WireError("RemoteDisconnected" if not data else "incomplete headers")
        data += chunk
        if len(data) > MAX_REPLY:
            raise WireError("headers too long")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise WireError("BadStatusLine")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    while not _complete(body, length, chunked) and len(body) <= MAX_REPLY:
        chunk = _recv(sock, deadline)
        if not chunk:
            break  # the server closed: the body is what came (Connection: close)
        body += chunk
    if length is not None and length.isdigit() and len(body) < int(length):
        raise WireError("IncompleteRead")
    return Reply(int(fields[1]), headers, _dechunk(body) if chunked else body)


def _complete(body: bytes, length: str | None, chunked: bool) -> bool:
    if chunked:
        return body.endswith(b"0\r\n\r\n")
    if length is not None and length.isdigit():
        return len(body) >= int(length)
    return False  # read to the end


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def tcp_exchange(host: str, port: int, send: str, expect: str, timeout: float) -> bytes:
    """Connect, send ``send`` if any, and read until the reply holds ``expect`` (nothing read
    when ``expect`` is empty: the connection accepted is the answer), the peer closes, or the
    deadline. Returns what was read; the caller judges it."""
    deadline = time.monotonic() + timeout
    sock = _connect(host, port, deadline)
    try:
        if send:
            sock.settimeout(_remaining(deadline))
            sock.sendall(send.encode())
        wanted, reply = expect.encode(), b""
        while wanted and wanted not in reply and len(reply) <= MAX_REPLY:
            try:
                chunk = _recv(sock, deadline)
            except TimeoutError:
                if not reply:
                    raise
                break  # something came, not what was expected: the caller says what
            if not chunk:
                if not reply:
                    raise WireError("RemoteDisconnected") from None
                break
            reply += chunk
        return reply
    finally:
        sock.close()
