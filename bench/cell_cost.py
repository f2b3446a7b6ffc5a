"""What one cell costs the machine: wall time, CPU seconds and peak memory of a whole
`lrmatrix run CELL`, after one warm-up run (image cache, page cache).

    sudo flock /tmp/lrm-integration.lock .venv/bin/python bench/cell_cost.py engine-liverestore --runs 5

CPU is user + system of the run's whole waited process tree (RUSAGE_CHILDREN: lrmatrix,
pytest, and the node's dockerd/containerd/shims where the run reaps them); peak memory is the
largest resident set of one process in that tree. Run cells one at a time: the figures of
several at once are the sum of everything.

    .venv/bin/python bench/cell_cost.py engine-liverestore --runs 3 --against /tmp/before   # under the lock

compares another tree (e.g. `git archive main | tar -x -C /tmp/before`, run from this checkout's
.venv with PYTHONPATH=/tmp/before/src) with this one, their runs interleaved (ABBA...): on a
machine other work shares, the load drifts within minutes, and runs of one tree after the
other's measure the drift as much as the change. ``--here DIR`` measures a second copied tree
instead of this checkout (e.g. two commits, while the checkout is being edited).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(cell: str) -> tuple[float, float, float]:
    """Wall s, CPU s and peak RSS MiB of one run (its exit code must be 0 or 1: it ran)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = Path(tempfile.mkdtemp(prefix="lrm-cost-"))
    began = time.monotonic()
    argv = [str(ROOT / ".venv/bin/lrmatrix"), "run", cell, "--results-dir", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"{cell} exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024  # ru_maxrss: the largest child so far (KiB)


def _summary(label: str, runs: list[tuple[float, float, float]]) -> str:
    walls, cpus, peaks = zip(*runs, strict=True)
    return (
        f"{label}: {len(runs)} runs, wall {statistics.median(walls):.1f} s "
        f"(min {min(walls):.1f}, max {max(walls):.1f}), CPU {statistics.median(cpus):.2f} s "
        f"(min {min(cpus):.2f}, max {max(cpus):.2f}), peak RSS {max(peaks):.1f} MiB"
    )


def _against(cell: str, runs: int, other: Path, here: Path | None) -> None:
    """Interleaved runs of ``other``'s tree and this one (or ``here``), in turns: A B, B A, ..."""
    trees = {f"{cell} at {other}": str(other / "src")}
    trees[f"{cell} at {here}" if here else f"{cell} here"] = str(here / "src") if here else None
    found: dict[str, list[tuple[float, float, float]]] = {label: [] for label in trees}
    one_run(cell)  # warm-up, not counted
    for i in range(runs):
        for label in list(trees)[:: 1 if i % 2 == 0 else -1]:
            env_path = trees[label]
            if env_path is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = env_path
            found[label].append(one_run(cell))
    os.environ.pop("PYTHONPATH", None)
    for label, measured in found.items():
        print(_summary(label, measured), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="+")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", type=Path, metavar="DIR", help="another tree to compare, interleaved")
    parser.add_argument(
        "--here", type=Path, metavar="DIR", help="with --against: measure this tree instead of the checkout"
    )
    args = parser.parse_args()
    for cell in args.cells:
        if args.against is not None:
            _against(cell, args.runs, args.against.resolve(), args.here.resolve() if args.here else None)
            continue
        one_run(cell)  # warm-up, not counted
        print(_summary(cell, [one_run(cell) for _ in range(args.runs)]), flush=True)


if __name__ == "__main__":
    main()
