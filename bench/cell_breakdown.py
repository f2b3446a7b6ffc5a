"""Where the CPU of one `lrmatrix run CELL` goes, by program: `perf record` samples the run's
whole process tree (children inherit the event, also once a shim daemonizes or runc starts a
container) on a 1 ms CPU clock, and its exec events count how often each program was started.

    sudo flock /tmp/lrm-integration.lock .venv/bin/python bench/cell_breakdown.py engine-liverestore

One sample is 1 ms of CPU of one thread, so the figures are statistical (about ±1 ms per program
per 1000 samples) but unbiased: a 10 ms `docker` call counts as 10 ms, where process accounting
would round each process down to 10 ms ticks. perf itself costs the run a few per cent.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_MS = 1.0  # perf record -F 1000 on cpu-clock: one sample per ms of CPU
EXEC = re.compile(r"PERF_RECORD_COMM exec: (?P<comm>.+):(?P<pid>\d+)/\d+$")
SAMPLE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<pid>\d+)\s*$")


def record(cell: str, data: Path) -> int:
    """Run the cell under perf; its exit code (0 or 1: it ran)."""
    out = Path(tempfile.mkdtemp(prefix="lrm-breakdown-"))
    argv = ["perf", "record", "-q", "-F", "1000", "-e", "cpu-clock", "-o", str(data), "--"]
    argv += [str(ROOT / ".venv/bin/lrmatrix"), "run", cell, "--results-dir", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{cell} exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.returncode


def perf_script(data: Path, *extra: str) -> list[str]:
    argv = ["perf", "script", "-i", str(data), *extra]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()


def breakdown(data: Path) -> tuple[Counter[str], Counter[str], Counter[tuple[str, int]]]:
    """CPU ms by program, execs by program, CPU ms by (program, pid)."""
    cpu: Counter[str] = Counter()
    by_pid: Counter[tuple[str, int]] = Counter()
    for line in perf_script(data, "-F", "comm,pid"):
        if m := SAMPLE.match(line):
            cpu[m["comm"]] += SAMPLE_MS
            by_pid[m["comm"], int(m["pid"])] += SAMPLE_MS
    execs: Counter[str] = Counter()
    for line in perf_script(data, "--show-task-events", "-F", "comm,pid"):
        if m := EXEC.search(line):
            execs[m["comm"]] += 1
    return cpu, execs, by_pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cell")
    parser.add_argument("--top", type=int, default=25, help="programs to show")
    parser.add_argument("--keep", type=Path, help="keep perf.data here (for perf report)")
    args = parser.parse_args()
    data = args.keep or Path(tempfile.mkdtemp(prefix="lrm-perf-")) / "perf.data"
    code = record(args.cell, data)
    cpu, execs, by_pid = breakdown(data)
    total = sum(cpu.values())
    table = Table(title=f"{args.cell} (exit {code}): {total / 1000:.2f} CPU-s sampled")
    for col in ("program", "CPU s", "share", "execs", "CPU ms per exec"):
        table.add_column(col, justify="left" if col == "program" else "right")
    for comm, ms in cpu.most_common(args.top):
        n = execs.get(comm, 0)
        per = f"{ms / n:.0f}" if n else ""
        table.add_row(comm, f"{ms / 1000:.2f}", f"{ms / total:.0%}", str(n or ""), per)
    Console().print(table)
    top = Table(title="the busiest processes")
    for col in ("program", "pid", "CPU s"):
        top.add_column(col)
    for (comm, pid), ms in by_pid.most_common(8):
        top.add_row(comm, str(pid), f"{ms / 1000:.2f}")
    Console().print(top)


if __name__ == "__main__":
    main()
