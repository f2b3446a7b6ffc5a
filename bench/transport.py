"""Benchmark the transport: the same live-restore cell on the engine node and over ssh to a
staging node on this machine (tests/integration/sshnode.py: sshd + Debian's docker.io in
namespaces of their own), and one command's round trip through each node's transport.

    flock /tmp/lrm-integration.lock .venv/bin/python bench/transport.py --runs 3

Per cell: the wall time around the pytest process, and the time of each phase from the
result (the harness's monotonic clock). The issue's target: ssh within 1.5x of engine. The
engine and ssh runs alternate, so each pair saw about the same load; the load average before
and after says how busy the machine was (other jobs skew both, not always alike).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]

from sshnode import SysvNode, driver  # noqa: E402

from lrmatrix.cli.main import cell_argv  # noqa: E402
from lrmatrix.drivers.base import Node  # noqa: E402
from lrmatrix.drivers.engine.node import EngineNode  # noqa: E402
from lrmatrix.matrix.cells import load_matrix  # noqa: E402

CELL = "engine-liverestore"
PHASES = ("setup", "baseline", "disrupt", "outage", "recover", "after", "change", "teardown")


def run_cell(extra: list[str], env: dict[str, str] | None) -> dict:
    out = Path(tempfile.mkdtemp(prefix="lrm-bench-transport-"))
    start = time.monotonic()
    res = subprocess.run(
        cell_argv(CELL, out, "-q", *extra), cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - start
    if res.returncode != 0:
        sys.exit(
            f"{CELL} {' '.join(extra)} failed in the benchmark:\n{res.stdout[-3000:]}{res.stderr[-2000:]}"
        )
    result = json.loads((out / f"{CELL}.json").read_text())
    phases = {p["name"]: p["t_end"] - p["t_start"] for p in result["phases"]}
    phases["setup"] = result["phases"][0]["t_start"]
    return {"wall": wall, **phases}


def round_trips(node: Node, n: int) -> list[float]:
    """``true`` run ``n`` times on the node: what one command costs through its transport."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        if not node.run(["true"]).ok:
            sys.exit("`true` failed on the node")
        times.append((time.perf_counter() - start) * 1000)
    return times


def line(label: str, values: list[float]) -> str:
    return f"  {label:<22} {min(values):8.3f} {statistics.median(values):8.3f} {max(values):8.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--commands", type=int, default=50, help="round trips measured per node")
    args = ap.parse_args()
    rows: dict[str, list[dict]] = {"engine": [], "ssh": []}
    trips: dict[str, list[float]] = {}
    load_before = os.getloadavg()
    engine = EngineNode(load_matrix().cell(CELL))
    engine.create()
    try:
        trips["engine"] = round_trips(engine, args.commands)
    finally:
        engine.destroy()
        engine.release()
    with SysvNode.running() as staging:
        node = driver(staging)
        trips["ssh"] = round_trips(node, args.commands)
        node.close()
        for _ in range(args.runs):
            rows["engine"].append(run_cell([], None))
            rows["ssh"].append(run_cell(["--node", staging.spec, "--allow-disruption"], staging.client_env()))
    print(f"{CELL}: engine node vs ssh to a node on this machine, {args.runs} runs each")
    print(f"  {'':<22} {'min':>8} {'median':>8} {'max':>8}")
    for name in ("engine", "ssh"):
        print(f"{name}")
        print(line("one command (ms)", trips[name]))
        for key in ("wall", *PHASES):
            print(line(f"{key} (s)", [r.get(key, 0.0) for r in rows[name]]))
    ratio = statistics.median(r["wall"] for r in rows["ssh"]) / statistics.median(
        r["wall"] for r in rows["engine"]
    )
    runs = zip(rows["engine"], rows["ssh"], strict=True)
    pairs = ", ".join(f"{ssh['wall'] / engine['wall']:.2f}" for engine, ssh in runs)
    print(f"ssh / engine, median wall: {ratio:.2f}x (target: within 1.5x); run by run: {pairs}")
    loads = " -> ".join(" ".join(f"{x:.2f}" for x in la) for la in (load_before, os.getloadavg()))
    print(f"load average (1, 5, 15 min) before -> after: {loads} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
