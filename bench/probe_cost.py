"""What the open-model probe costs: its CPU (share of one core) and peak memory while it
probes 3 paths x 2 targets every 50 ms (the engine cells' shape: 120 requests/s) against a
loopback server in a separate process, so the server's CPU is not counted.

    .venv/bin/python bench/probe_cost.py --seconds 60
    .venv/bin/python bench/probe_cost.py --seconds 600   # memory stays bounded over 10 minutes
    .venv/bin/python bench/probe_cost.py --seconds 60 --tcp   # TCP targets: PING -> +PONG
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections import Counter

from lrmatrix.evidence.probe import Probe, Target

ENDPOINTS = ("/", "/health", "/status")
SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"healthy\\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""
TCP_SERVER = """
import socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(64)
        self.request.sendall(b"+PONG\\r\\n")
srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def targets(port: int, tcp: bool) -> list[Target]:
    """One container's endpoints: the engine cells' three HTTP paths, or a redis-like PING."""
    if tcp:
        return [Target(f"tcp://127.0.0.1:{port}", "+PONG", send="PING\r\n", identify="")]
    return [Target(f"http://127.0.0.1:{port}{ep}", "healthy") for ep in ENDPOINTS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--tcp", action="store_true", help="TCP targets (PING -> +PONG) instead of HTTP")
    args = parser.parse_args()
    code = TCP_SERVER if args.tcp else SERVER
    servers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        ports = [int(s.stdout.readline()) for s in servers]  # type: ignore[union-attr]
        paths = {
            name: [t for p in ports for t in targets(p, args.tcp)] for name in ("node", "loopback", "pod")
        }
        probe = Probe(paths, args.interval, 0.5, max_seconds=args.seconds + 60)
        cpu0, wall0 = time.process_time(), time.monotonic()
        probe.start()
        rss = []
        while time.monotonic() - wall0 < args.seconds:
            time.sleep(min(10.0, args.seconds))
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        probe.stop()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    finally:
        for s in servers:
            s.terminate()
            s.wait(5)
    sent = sum(len(r.samples) for r in probe.records.values())
    errors = Counter(s.error for r in probe.records.values() for s in r.samples if not s.ok)
    failed = sum(errors.values())
    missed = sum(r.missed_ticks for r in probe.records.values())
    print(
        f"{wall:.0f} s, {sent} requests ({sent / wall:.0f}/s, {failed} failed {dict(errors)}, "
        f"{missed} ticks skipped): "
        f"CPU {cpu:.2f} s = {100 * cpu / wall:.1f} % of a core, {1000 * cpu / max(1, sent):.2f} ms/request; "
        f"peak RSS every 10 s (MiB): {' '.join(f'{m:.0f}' for m in rss)}"
    )


if __name__ == "__main__":
    main()
