"""A fake Kubernetes API server on 127.0.0.1: real HTTP (and a real websocket for exec) in
front of contract.sim's single-node cluster, so the helpers are driven through the
official client's whole stack: kubeconfig loading, REST, deserialisation, the exec stream.

Its clock is real time plus ``advance()``d seconds, so a test can make the kubelet's delays
(cri-dockerd's one-minute cache, the control plane coming back) pass without waiting. While
the simulated API server is down, a request gets its connection dropped, as through
docker-proxy to a dead apiserver container.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from contract.sim import NO_ANSWER, SimCluster
from lrmatrix.kube.settings import KubeSettings

CONTEXT = "lrm-k8s128"
#: short polls and timeouts: the fake answers at once, and a wait that cannot end must fail fast
FAST = KubeSettings(node_poll_s=0.02, rollout_timeout_s=2.0, pending_timeout_s=2.0)
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STDERR, ERROR = 2, 3


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One unmasked server frame (RFC 6455 5.2)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        return head + bytes([n]) + payload
    return head + bytes([126]) + n.to_bytes(2, "big") + payload


class FakeApiServer:
    def __init__(self, sim: SimCluster | None = None) -> None:
        self.sim = sim or SimCluster()
        self.offset = 0.0
        self.t0 = time.monotonic()
        self.requests: list[tuple[str, str]] = []
        #: requests that reached the server while its API was down (answered by a dropped connection)
        self.dropped: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def now(self) -> float:
        return time.monotonic() - self.t0 + self.offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds
            self.sim.tick(self.now())

    def set_runtime(self, up: bool) -> None:
        with self.lock:
            self.sim.set_runtime(up, self.now())

    def start(self) -> FakeApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, path: Path, context: str, other_context: str = "production") -> Path:
        """A kubeconfig whose current context is ``other_context`` (pointing nowhere), so a
        helper that used the current context instead of the named one would fail."""
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "fake", "cluster": {"server": self.url}},
                        {"name": "elsewhere", "cluster": {"server": "http://127.0.0.1:9"}},
                    ],
                    "users": [{"name": "tester", "user": {"token": "contract-token"}}],
                    "contexts": [
                        {"name": context, "context": {"cluster": "fake", "user": "tester"}},
                        {"name": other_context, "context": {"cluster": "elsewhere", "user": "tester"}},
                    ],
                    "current-context": other_context,
                }
            )
        )
        return path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                server.requests.append((self.command, self.path))
                if self.headers.get("Authorization") != "Bearer contract-token":
                    self._json(401, {"kind": "Status", "apiVersion": "v1", "code": 401, "status": "Failure"})
                    return
                if "/exec?" in self.path and self.headers.get("Upgrade", "").lower() == "websocket":
                    self._exec()
                    return
                with server.lock:
                    code, obj = server.sim.handle(self.command, self.path, body, server.now())
                if code == NO_ANSWER:  # the apiserver's container is gone: the connection just drops
                    server.dropped.append((self.command, self.path))
                    self.close_connection = True
                    return
                self._json(code, obj)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def _json(self, code: int, obj: Any) -> None:
                text = isinstance(obj, str)
                data = obj.encode() if text else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8" if text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _exec(self) -> None:
                parts = urlsplit(self.path)
                segs = parts.path.strip("/").split("/")
                argv = parse_qs(parts.query).get("command", [])
                with server.lock:
                    ok, text = server.sim.exec_output(segs[3], segs[5], argv)
                key = self.headers["Sec-WebSocket-Key"]
                accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
                self.end_headers()
                status = {
                    "metadata": {},
                    "status": "Success" if ok else "Failure",
                    "message": "" if ok else text,
                }
                if ok and text:
                    self.wfile.write(ws_frame(bytes([STDERR]) + text.encode()))
                self.wfile.write(ws_frame(bytes([ERROR]) + json.dumps(status).encode()))
                self.wfile.write(ws_frame(b"\x03\xe8", opcode=0x8))
                self.wfile.flush()
                self.close_connection = True

        return Handler
