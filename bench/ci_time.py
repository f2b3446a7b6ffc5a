"""Time CI as a newcomer meets it: `.ci/run` in a fresh clone, per tox env and in total.

    flock /tmp/lrm-integration.lock .venv/bin/python bench/ci_time.py            # HEAD, once
    flock /tmp/lrm-integration.lock .venv/bin/python bench/ci_time.py --runs 2   # first and second run
    .venv/bin/python bench/ci_time.py --parse /path/to/saved-ci.log              # a log from before

A fresh clone has no .venv and no .tox: the first run pays for bootstrap and every env's
virtualenv; `--runs 2` runs `.ci/run` again in the same clone (what a second push costs).
Caches outside the clone (engines, images, the staging node's tree under /var/cache/lrmatrix,
pip's) are the machine's and are kept, as they are on a CI runner with a cache; uv's starts empty
in the clone (so every env's packages are fetched once) unless --warm-uv-cache. Per-env times come
from tox's own final report (setup and commands apart); the bootstrap's from when its line
appears. Run it under the shared integration lock: .ci/run starts real daemons and nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tox 4's final report: "  unit: OK (67.78=setup[20.10]+cmd[47.68] seconds)"
ENV_LINE = re.compile(
    r"^\s*(?P<env>[\w.-]+): (?P<status>OK|FAIL|SKIP|IGNORED FAIL)(?: code -?\d+)?"
    r" \((?P<total>[\d.]+)(?:=setup\[(?P<setup>[\d.]+)\]\+cmd\[(?P<cmd>[\d.,]+)\])? seconds\)"
)
BOOTSTRAP_DONE = "bootstrap: ready"
RUN_TIMEOUT_S = 3600


@dataclass
class EnvTime:
    env: str
    status: str
    total_s: float
    setup_s: float | None
    cmd_s: float | None


@dataclass
class RunTime:
    total_s: float
    exit_code: int
    bootstrap_s: float | None = None
    envs: list[EnvTime] = field(default_factory=list)


def parse_envs(lines: list[str]) -> list[EnvTime]:
    """Each env's line of tox's final report (the last one wins if a name repeats)."""
    found: dict[str, EnvTime] = {}
    for line in lines:
        m = ENV_LINE.match(line)
        if m:
            cmd = sum(float(x) for x in m["cmd"].split(",")) if m["cmd"] else None
            setup = float(m["setup"]) if m["setup"] else None
            found[m["env"]] = EnvTime(m["env"], m["status"], float(m["total"]), setup, cmd)
    return list(found.values())


def default_interrupts() -> None:
    """This script may run in the background (SIGINT and SIGQUIT ignored, and kept so across
    exec): .ci/run gets them as from a terminal, as the interrupt tests inside it expect."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def run_ci(clone: Path, log: Path, uv_cache: Path | None) -> RunTime:
    """`.ci/run` in ``clone``, its output to the terminal and ``log``, timed line by line."""
    env = {**os.environ, **({"UV_CACHE_DIR": str(uv_cache)} if uv_cache else {})}
    began = time.monotonic()
    bootstrap_s = None
    lines: list[str] = []
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(clone / ".ci/run")],
            cwd=clone,
            env=env,
            preexec_fn=default_interrupts,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            out.write(line)
            lines.append(line.rstrip("\n"))
            if bootstrap_s is None and line.startswith(BOOTSTRAP_DONE):
                bootstrap_s = time.monotonic() - began
            if time.monotonic() - began > RUN_TIMEOUT_S:
                proc.terminate()
                break
        code = proc.wait(timeout=120)
    return RunTime(
        round(time.monotonic() - began, 1), code, bootstrap_s and round(bootstrap_s, 1), parse_envs(lines)
    )


def show(label: str, run: RunTime) -> None:
    print(f"\n{label}: {run.total_s:.0f} s ({run.total_s / 60:.1f} min), exit {run.exit_code}", end="")
    print(f", bootstrap {run.bootstrap_s:.0f} s" if run.bootstrap_s is not None else "")
    print(f"  {'env':<34}{'status':>8}{'total s':>10}{'setup s':>10}{'cmd s':>10}")
    for e in sorted(run.envs, key=lambda e: -e.total_s):
        setup = f"{e.setup_s:.1f}" if e.setup_s is not None else "-"
        cmd = f"{e.cmd_s:.1f}" if e.cmd_s is not None else "-"
        print(f"  {e.env:<34}{e.status:>8}{e.total_s:>10.1f}{setup:>10}{cmd:>10}")
    setups, cmds = sum(e.setup_s or 0 for e in run.envs), sum(e.cmd_s or 0 for e in run.envs)
    print(f"  sum of env setup: {setups:.0f} s, sum of commands: {cmds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="HEAD", help="what to clone from this checkout (default HEAD)")
    ap.add_argument("--runs", type=int, default=1, choices=(1, 2), help="2: run again in the same clone")
    ap.add_argument("--keep", action="store_true", help="keep the clone (printed) instead of removing it")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--warm-uv-cache",
        action="store_true",
        help="use this machine's uv cache (default: an empty one in the clone, as a new runner has)",
    )
    ap.add_argument("--parse", type=Path, help="only read the per-env times from a saved .ci/run log")
    args = ap.parse_args(argv)
    if args.parse:
        if not args.parse.is_file():
            print(f"ci_time: {args.parse} is not a file", file=sys.stderr)
            return 2
        show(str(args.parse), RunTime(0.0, 0, None, parse_envs(args.parse.read_text().splitlines())))
        return 0
    clone = Path(tempfile.mkdtemp(prefix="lrm-ci-clone-", dir="/tmp"))
    res = subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], capture_output=True)
    res = res if res.returncode else subprocess.run(["git", "-C", str(clone), "checkout", "-q", args.ref])
    if res.returncode:
        print(f"ci_time: cannot clone {ROOT} at {args.ref}", file=sys.stderr)
        shutil.rmtree(clone, ignore_errors=True)
        return 2
    runs = []
    try:
        for n in range(args.runs):
            uv_cache = None if args.warm_uv_cache else clone / ".uv-cache"
            runs.append(run_ci(clone, clone.parent / f"{clone.name}.run{n + 1}.log", uv_cache))
    finally:
        for n, run in enumerate(runs):
            show(f"run {n + 1} ({'fresh clone' if n == 0 else 'same clone again'})", run)
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")
        if args.keep:
            print(f"clone kept: {clone}")
        else:
            shutil.rmtree(clone, ignore_errors=True)
    return max((r.exit_code for r in runs), default=1)


if __name__ == "__main__":
    sys.exit(main())
