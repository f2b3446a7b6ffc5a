"""Interrupts of a real engine cell at a known phase: exit 130 (not 2, which promises that
nothing changed), a few lines of output instead of a traceback, a result that says what
stopped the run and where, and no node left behind. Through pytest, ``lrmatrix run`` and tox.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix.cli.main import cell_argv
from lrmatrix.errors import INTERRUPTED

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(engine_ready() is not None, reason=str(engine_ready())),
]

CELL = "engine-liverestore"
OUTAGE = "test_container_processes_kept_or_gone"  # reported once the daemon has been down a while
BASELINE = "test_daemon_json_live_restore_is_cell_value"
MAX_LINES_AFTER_SIGNAL = 25


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Its own short state folder, and a matrix (outside the checkout) whose 30 s window
    leaves time to interrupt the outage."""
    state = Path(tempfile.mkdtemp(prefix="lrmi-", dir="/tmp"))
    matrix = tmp_path / "matrix"
    matrix.mkdir()
    text = (ROOT / "matrix" / "matrix.toml").read_text()
    (matrix / "matrix.toml").write_text(text.replace("outage_window_s = 5.0", "outage_window_s = 30.0"))
    yield {
        **os.environ,
        "LRMATRIX_STATE_DIR": str(state / "s"),
        "LRMATRIX_MATRIX": str(matrix),
        "PYTHONUNBUFFERED": "1",
    }
    shutil.rmtree(state, ignore_errors=True)


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """From the root folder: the matrix (in a temporary folder) and the node checks (in the
    package) are found from anywhere."""
    return subprocess.Popen(
        argv,
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def interrupt_at(proc: subprocess.Popen[str], marker: str, send: object) -> tuple[str, str]:
    """Read the run's output until ``marker``, call ``send()``; (output before, output after)."""
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            break
        assert time.monotonic() < deadline, f"never saw {marker}:\n{''.join(seen)[-3000:]}"
    else:
        pytest.fail(f"the run ended before {marker}:\n{''.join(seen)[-3000:]}")
    send()  # type: ignore[operator]
    return "".join(seen), proc.communicate(timeout=180)[0]


def assert_interrupted(results: Path, signal_name: str, phase: str, state: str, after: str) -> None:
    assert "Traceback" not in after and "INTERNALERROR" not in after, after
    assert len(after.splitlines()) <= MAX_LINES_AFTER_SIGNAL, after
    result = json.loads((results / f"{CELL}.json").read_text())
    verdict = result["verdict"]
    assert verdict["observed"] == "interrupted" and not verdict["passed"], verdict
    assert verdict["reason"].startswith(f"interrupted by {signal_name} in the {phase} phase, {state}"), (
        verdict
    )
    assert result["error"] == verdict["reason"]
    clean = next(c for c in result["checks"] if c["id"] == "node_left_clean")
    assert clean["passed"], clean
    node = result["node"]["name"]
    assert not Path(f"/run/netns/{node}").exists(), f"namespace {node} left"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_pytest_interrupted_mid_outage_exits_130_and_says_so(env, tmp_path, sig):
    results = tmp_path / "results"
    proc = start(cell_argv(CELL, results, "-v"), env)
    _, after = interrupt_at(proc, OUTAGE, lambda: proc.send_signal(sig))
    assert proc.returncode == INTERRUPTED, after
    assert_interrupted(results, sig.name, "outage", "while the daemon was stopped", after)


def test_interrupted_before_the_daemon_was_stopped(env, tmp_path):
    results = tmp_path / "results"
    proc = start(cell_argv(CELL, results, "-v"), env)
    _, after = interrupt_at(proc, BASELINE, lambda: proc.send_signal(signal.SIGTERM))
    assert proc.returncode == INTERRUPTED, after
    assert_interrupted(results, "SIGTERM", "baseline", "before the daemon was stopped", after)


def test_a_second_ctrl_c_neither_breaks_the_teardown_nor_prints_a_traceback(env, tmp_path):
    """A terminal's Ctrl-C reaches every process of the group, and tox passes on its own: the
    second SIGINT used to land in pytest's reporting of the first (about 150 lines)."""
    results = tmp_path / "results"
    proc = start(cell_argv(CELL, results, "-v"), env)

    def twice() -> None:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)

    _, after = interrupt_at(proc, OUTAGE, twice)
    assert proc.returncode == INTERRUPTED, after
    assert "already stopping after SIGINT" in after
    assert_interrupted(results, "SIGINT", "outage", "while the daemon was stopped", after)


def test_lrmatrix_run_interrupted_exits_130(env, tmp_path):
    """Ctrl-C in a terminal: SIGINT to the whole process group (lrmatrix and its cell)."""
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "lrmatrix", "run", CELL, "--results-dir", str(results)]
    env = {**env, "PYTEST_ADDOPTS": "-vv"}  # with run's own -q: one line per check
    proc = start(argv, env)
    _, after = interrupt_at(proc, OUTAGE, lambda: os.killpg(proc.pid, signal.SIGINT))
    assert proc.returncode == INTERRUPTED, after
    assert_interrupted(results, "SIGINT", "outage", "while the daemon was stopped", after)


def _children(pid: int) -> list[int]:
    """Of every thread: tox starts commands from a worker thread."""
    return [
        int(k)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for k in (task / "children").read_text().split()
    ]


def test_tox_passes_130_through_when_the_cell_is_stopped(env, tmp_path):
    """A SIGTERM that reaches the cell's pytest (a CI runner stopping the job, `kill`): tox
    reports the env's own exit code. (A Ctrl-C interrupts tox itself, which then reports the
    env as skipped and exits 1; the result file still says interrupted; see the README.)"""
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "tox", "--workdir", str(tmp_path / "tox"), "-e", CELL, "--",
            "-v", "--results-dir", str(results), f"--junitxml={results / 'x.xml'}"]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def stop_the_cell() -> None:
        (pytest_pid,) = [
            p for p in _children(proc.pid) if b"pytest" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        os.kill(pytest_pid, signal.SIGTERM)

    _, after = interrupt_at(proc, OUTAGE, stop_the_cell)
    assert proc.returncode == INTERRUPTED, after
    assert f"{CELL}: exit {INTERRUPTED}" in after
    result = json.loads((results / f"{CELL}.json").read_text())
    assert result["verdict"]["observed"] == "interrupted"
