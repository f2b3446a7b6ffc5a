"""Benchmark what the checks before a cell's node is made add to the cell: the matrix
schema (importing pydantic and building the models, then validating matrix.toml), the
results folder check and its per-cell lock, and the state folder check of the engine driver.

    sudo .venv/bin/python bench/preflight.py --runs 20

Each run is a fresh interpreter, as every cell run is (tox and `lrmatrix run` start pytest
anew), so import costs are counted: after what a cell run imports anyway (pytest, testinfra,
requests), as the marginal cost is what the checks add. The engine driver's other sanity
checks (root, tools, iptables) existed before and are shown for scale.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_RUN = r"""
import json, sys, tempfile, time
from pathlib import Path
t = time.perf_counter
out = {}
import pytest, requests, testinfra.host  # a cell run has these loaded before the plugin starts
start = t()
import lrmatrix.matrix.schema  # pydantic and the models: what the strict schema costs to load
out["schema_import_s"] = t() - start
from lrmatrix import preflight
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.errors import EnvironmentProblem
from lrmatrix.matrix.cells import load_matrix
start = t()
cell = load_matrix(Path(sys.argv[1])).cell("engine-liverestore")
out["matrix_validate_s"] = t() - start
results = Path(sys.argv[2]) / "results"
start = t()
preflight.writable_folder(results, "--results-dir", "")
lock = preflight.ResultLock(results, cell.name).acquire()
lock.release()
out["results_dir_and_lock_s"] = t() - start
node = EngineNode(cell, root=Path(sys.argv[2]) / "state")
start = t()
preflight.writable_folder(node.root, "LRMATRIX_STATE_DIR", "", EnvironmentProblem)
out["state_dir_s"] = t() - start
start = t()
node.sanity_checks()
out["engine_sanity_checks_s"] = t() - start
print(json.dumps(out))
"""
ADDED = ("schema_import_s", "matrix_validate_s", "results_dir_and_lock_s", "state_dir_s")


def one_run(folder: Path) -> dict[str, float]:
    argv = [sys.executable, "-c", ONE_RUN, str(ROOT / "matrix"), str(folder)]
    res = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="lrmp-", dir="/tmp") as tmp:
            runs.append(one_run(Path(tmp)))
    for key in (*ADDED, "engine_sanity_checks_s"):
        print(f"{key:<26} {summary([r[key] for r in runs])}")
    added = [sum(r[k] for k in ADDED) for r in runs]
    print(f"{'added by the new checks':<26} {summary(added)}  (target: under 200 ms)")


if __name__ == "__main__":
    main()
