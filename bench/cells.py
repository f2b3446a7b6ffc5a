"""Benchmark the engine cells: wall time split by phase, probe resolution and CPU, and
whether running both cells at once (as `tox -p` does) disturbs their measurements.

    sudo .venv/bin/python bench/cells.py --runs 5            # each cell alone, 5 times
    sudo .venv/bin/python bench/cells.py --runs 3 --parallel # both cells at once, 3 times
    sudo .venv/bin/python bench/cells.py --runs 3 --cells engine-liverestore-upgrade26
    sudo .venv/bin/python bench/cells.py --runs 3 --cells engine-liverestore-logflood

Timings come from the result files the cells write (the harness's own monotonic clock);
the wall time of a whole cell is measured here around the pytest process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lrmatrix.cli.main import cell_argv

ROOT = Path(__file__).resolve().parent.parent
CELLS = ("engine-liverestore", "engine-noliverestore")
SPLIT = (
    "node_start_s",
    "image_load_s",
    "workload_ready_s",
    "log_pressure_s",
    "daemon_stop_s",
    "outage_window_s",
    "daemon_start_s",
    "teardown_s",
)


def start_cell(cell: str, out: Path) -> subprocess.Popen[bytes]:
    log = (out / f"{cell}.log").open("w")
    argv = cell_argv(cell, out, "-q")
    return subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def run_round(cells: tuple[str, ...], parallel: bool) -> list[dict]:
    """Run the cells (together or one after another); each result gets its measured wall time."""
    out = Path(tempfile.mkdtemp(prefix="lrm-bench-"))
    rows = []
    if parallel:
        start = time.monotonic()
        procs = {c: start_cell(c, out) for c in cells}
        for c, p in procs.items():
            if p.wait() != 0:
                sys.exit(f"{c} failed in the benchmark; see {out / (c + '.log')}")
        walls = dict.fromkeys(cells, time.monotonic() - start)
    else:
        walls = {}
        for c in cells:
            start = time.monotonic()
            if start_cell(c, out).wait() != 0:
                sys.exit(f"{c} failed in the benchmark; see {out / (c + '.log')}")
            walls[c] = time.monotonic() - start
    for c in cells:
        result = json.loads((out / f"{c}.json").read_text())
        result["bench_wall_s"] = walls[c]
        rows.append(result)
    return rows


def summary(values: list[float]) -> str:
    return f"{min(values):8.3f} {statistics.median(values):8.3f} {max(values):8.3f}"


def report(results: list[dict], cells: tuple[str, ...] = CELLS) -> None:
    for cell in cells:
        mine = [r for r in results if r["cell"] == cell]
        if not mine:
            continue
        print(f"\n{cell} ({len(mine)} runs)                min   median      max")
        print(f"  {'wall (whole cell)':<26} {summary([r['bench_wall_s'] for r in mine])}")
        for key in SPLIT:
            print(f"  {key:<26} {summary([r['timing'].get(key, 0.0) for r in mine])}")
        for path in ("node", "loopback", "pod"):
            probes = [r["probes"][path] for r in mine]
            print(f"  {path}: interval mean ms     {summary([p['interval']['mean_ms'] for p in probes])}")
            print(f"  {path}: interval stdev ms    {summary([p['interval']['stdev_ms'] for p in probes])}")
            print(f"  {path}: failed while down    {summary([p['failed_while_down'] for p in probes])}")
            print(f"  {path}: longest outage ms    {summary([p['longest_outage_ms'] for p in probes])}")
            recovered = [p["recovery_s"] for p in probes if p.get("recovery_s") is not None]
            if recovered:
                print(f"  {path}: recovery after API s {summary(recovered)}")
            cpu = [p["cpu_s"] / max(p["samples"][-1][0] - p["samples"][0][0], 1e-3) for p in probes]
            print(f"  {path}: probe CPU (s per s)  {summary(cpu)}")
        log_pressure(mine)


def log_pressure(results: list[dict]) -> None:
    """Per container: the horizon its log rate predicted, and when it was seen to stall."""
    pressure = [p for r in results for p in (r.get("log_pressure") or {}).values()]
    for key in ("bytes_per_s", "predicted_horizon_s", "stalled_at_s", "projected_horizon_s"):
        values = [p[key] for p in pressure if p.get(key) is not None]
        if values:
            print(f"  log pressure: {key:<20} {summary(values)}  ({len(values)} containers)")
    errors = [
        abs(p["stalled_at_s"] - p["predicted_horizon_s"]) / p["predicted_horizon_s"]
        for p in pressure
        if p.get("stalled_at_s") is not None and p.get("predicted_horizon_s")
    ]
    if errors:
        print(f"  log pressure: |stall - predicted| / predicted {summary(errors)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", action="store_true", help="both cells at once, like tox -p")
    ap.add_argument("--cells", nargs="+", default=list(CELLS), metavar="CELL", help="default: %(default)s")
    args = ap.parse_args()
    cells = tuple(args.cells)
    results: list[dict] = []
    for _ in range(args.runs):
        results += run_round(cells, args.parallel)
    print(f"engine cells, {'in parallel' if args.parallel else 'one at a time'}, {args.runs} rounds")
    report(results, cells)


if __name__ == "__main__":
    main()
