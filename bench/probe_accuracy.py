"""How accurate is the probe? An independent open-model observer runs as a separate process
against the same engine node as a cell, and its outage edges, failed share of the down time
and longest outage are set beside the cell's result.

    sudo flock /tmp/lrm-integration.lock .venv/bin/python bench/probe_accuracy.py engine-liverestore --runs 3

The observer (``observe`` below, stdlib only: urllib and threads) sends GET /health to every
published port of the node every 20 ms on schedule, whether or not earlier requests answered
(at most timeout/interval + 1 in flight per port), and judges each at its send time. It finds
the node by the slot record the cell's engine node writes (/run/lrmatrix/slots/lrmN.json).
Only the ``node`` path is compared (the observer runs on the host, as a client would) and
only what happens before the config change (the cell's endpoints change there, the
observer's /health does not).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLOTS = Path("/run/lrmatrix/slots")
EVERY, TIMEOUT, PORTS = 0.02, 0.5, (8081, 8082)


def observe(address: str, out: Path, seconds: float) -> None:
    """The observer process: open model, one thread per request, bounded per port."""
    samples: list[tuple[float, int, bool]] = []
    limits = {p: threading.BoundedSemaphore(int(TIMEOUT / EVERY) + 1) for p in PORTS}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def one(port: int, wall: float) -> None:
        try:
            with opener.open(f"http://{address}:{port}/health", timeout=TIMEOUT) as r:
                ok = r.status == 200 and b"healthy" in r.read()
        except OSError:
            ok = False
        samples.append((wall, port, ok))
        limits[port].release()

    start, tick, stop = time.monotonic(), 0, Path(str(out) + ".stop")
    while tick * EVERY < seconds and not stop.exists():
        for port in PORTS:
            if limits[port].acquire(blocking=False):  # else: a skipped tick, never a queued one
                threading.Thread(target=one, args=(port, time.time()), daemon=True).start()
        tick += 1
        time.sleep(max(0.0, start + tick * EVERY - time.monotonic()))
    time.sleep(TIMEOUT + 0.2)  # the last requests answer or time out
    out.write_text(json.dumps(sorted(samples)))


def windows(samples: list[tuple[float, int, bool]], bridge: float = 0.0) -> list[list[float]]:
    """Per port: first failure to next success; then merged (at least one port failing), and
    with ``bridge`` also across answers shorter than it (what a probe at that interval can miss)."""
    spans: list[list[float]] = []
    for port in PORTS:
        begun = None
        for t, p, ok in samples:
            if p != port:
                continue
            if not ok and begun is None:
                begun = t
            elif ok and begun is not None:
                spans.append([begun, t])
                begun = None
        if begun is not None:
            spans.append([begun, samples[-1][0]])
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + bridge:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def share(spans: list[list[float]], lo: float, hi: float) -> tuple[float, float | None]:
    inside = [(max(lo, a), min(hi, b)) for a, b in spans if min(hi, b) > max(lo, a)]
    return sum(b - a for a, b in inside) / (hi - lo), (inside[0][0] - lo if inside else None)


def run_once(cell: str, work: Path) -> dict:
    """One cell run with the observer beside it; the two views of the node path."""
    before = set(SLOTS.glob("*.json")) if SLOTS.exists() else set()
    results = work / "results"
    argv = [str(ROOT / ".venv/bin/lrmatrix"), "run", cell, "--results-dir", str(results)]
    runner = subprocess.Popen(argv, cwd=ROOT, stdout=(work / "cell.log").open("w"), stderr=subprocess.STDOUT)
    found, deadline = None, time.monotonic() + 60
    while found is None and time.monotonic() < deadline and runner.poll() is None:
        new = set(SLOTS.glob("*.json")) - before if SLOTS.exists() else set()
        found = min(new) if new else None
        time.sleep(0.01)
    if found is None:
        runner.wait(300)
        raise SystemExit(f"{cell}: no new engine node seen within 60 s (see {work / 'cell.log'})")
    address = f"198.18.{found.stem.removeprefix('lrm')}.2"
    seen = work / "observer.json"
    observer = subprocess.Popen([sys.executable, __file__, "--observe", address, str(seen)])
    runner.wait(600)
    Path(str(seen) + ".stop").touch()
    observer.wait(30)
    return compare(cell, work)


def compare(cell: str, work: Path) -> dict:
    """The cell's node path beside the observer's, from a run's kept files."""
    seen = work / "observer.json"
    result = json.loads((work / "results" / f"{cell}.json").read_text())
    wall0 = datetime.fromisoformat(result["started_at"]).timestamp()
    samples = [(w - wall0, p, ok) for w, p, ok in json.loads(seen.read_text())]
    d = result["disruption"]
    first_ok = min(t for t, _, ok in samples if ok)
    change = d["change_at"] or samples[-1][0]
    theirs = [w for w in windows(samples) if first_ok < w[0] < change]
    interval = result["timings_configured"]["probe_interval_s"]
    bridged = [w for w in windows(samples, interval) if first_ok < w[0] < change]
    node = result["probes"]["node"]
    ours = [[a, change if b is None else b] for a, b in node["windows"] if a < change]
    # each edge of the cell's windows against the observer's nearest edge of the same kind
    edges = [min((abs(mine[k] - w[k]) for w in theirs), default=9.0) * 1000 for mine in ours for k in (0, 1)]
    lo, hi = d["stop_at"], d["start_at"]
    our_share = node.get("down_failed_share") or 0.0
    their_share, their_from = share(theirs, lo, hi)
    return {
        "cell": cell,
        "verdict": result["verdict"]["observed"],
        "windows": len(ours),
        "observer_windows": len(theirs),
        "edge_ms_max": round(max(edges, default=0.0), 1),
        "share": round(our_share, 4),
        "observer_share": round(their_share, 4),
        "from_s": node.get("down_failed_from_s"),
        "observer_from_s": None if their_from is None else round(their_from, 3),
        "longest_ms": max((round((b - a) * 1000, 1) for a, b in ours), default=0.0),
        "longest_outage_ms": node["longest_outage_ms"],  # the result's own, over the whole run
        "observer_longest_ms": max((round((b - a) * 1000, 1) for a, b in theirs), default=0.0),
        # the observer's, bridged over answers shorter than the cell's interval (it cannot see them)
        "observer_longest_bridged_ms": max((round((b - a) * 1000, 1) for a, b in bridged), default=0.0),
        "recovery_s": node.get("recovery_s"),
        "failed_while_down": f"{node['failed_while_down']}/{node['sent_while_down']}",
        "missed_ticks": node["missed_ticks"],
        "probe_cpu_s": node["cpu_s"],
    }


def main() -> None:
    if sys.argv[1:2] == ["--observe"]:
        observe(sys.argv[2], Path(sys.argv[3]), 600.0)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep each run's result and observer samples here")
    parser.add_argument("--again", type=Path, help="compare the runs kept in this folder, run nothing")
    args = parser.parse_args()
    if args.again:
        for cell in args.cells:
            for work in sorted(args.again.glob(f"{cell}-*")):
                if (work / "results" / f"{cell}.json").exists() and (work / "observer.json").exists():
                    print(json.dumps(compare(cell, work)), flush=True)
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    for cell in args.cells:
        for _ in range(args.runs):
            work = Path(tempfile.mkdtemp(prefix=f"{cell}-", dir=args.keep))
            print(json.dumps(run_once(cell, work)), flush=True)


if __name__ == "__main__":
    main()
