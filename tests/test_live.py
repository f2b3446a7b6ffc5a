"""The live line of a running cell: drawn on a terminal (a real pseudo-terminal here), never
when output goes to a pipe or a file."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _pytest._io import TerminalWriter

from conftest import ROOT, engine_ready
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.report.live import LiveLine, line
from lrmatrix.run.runner import Runner
from prereqs import needs

CELL = "engine-liverestore"


def scenario(tmp_path: Path) -> Runner:
    """A real runner, not set up: nothing runs, the line reads what it recorded."""
    cell = load_matrix(ROOT / "matrix").cell(CELL)
    return Runner(cell, EngineNode(cell))


def read_all(fd: int, seconds: float = 5.0) -> str:
    """What the terminal side got, until it goes quiet (bounded in time)."""
    out, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.3)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        out += data
    return out.decode(errors="replace")


def test_the_line_says_only_what_the_run_recorded(tmp_path):
    s = scenario(tmp_path)
    assert line(s, 5) == f"{CELL}  setup  0:05  daemon not touched yet  failed: 0 checks"
    s.keep(s.ctx.event("daemon stopping"))
    s.keep(s.ctx.event("daemon stopped"))
    s.status.phase = "outage"
    s.record("outage", "test_containers_running", False, "1 of 2 gone")
    said = line(s, 75)
    assert "outage  1:15  daemon stopped  failed: 1 check" in said


def test_on_a_terminal_the_line_is_drawn_and_pytest_lines_go_above_it(tmp_path):
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w")
    writer = TerminalWriter(terminal)
    try:
        live = LiveLine.start(scenario(tmp_path), writer)
        assert live is not None
        writer.line("a line pytest wrote")
        writer.write("..")  # progress dots: kept until the line ends or the live line stops
        live.stop()
        assert writer._file is terminal
        terminal.flush()
        seen = read_all(master)
    finally:
        terminal.close()
        os.close(master)
    assert f"{CELL}  setup" in seen and "daemon not touched yet" in seen
    assert "a line pytest wrote" in seen and seen.rstrip().endswith("..")


def test_not_on_a_terminal_nothing_is_drawn(tmp_path):
    plain = io.StringIO()
    writer = TerminalWriter(plain)
    assert LiveLine.start(scenario(tmp_path), writer) is None
    assert writer._file is plain


def run_cell(results: Path, use_pty: bool) -> tuple[int, str]:
    argv = [sys.executable, "-m", "lrmatrix", "run", CELL, "--results-dir", str(results)]
    env = {**os.environ, "LRMATRIX_MATRIX": str(ROOT / "matrix")}
    if not use_pty:
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        return res.returncode, res.stdout + res.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = ""
    try:
        while proc.poll() is None:
            out += read_all(master, 10)
        out += read_all(master, 2)
        return proc.wait(timeout=300), out
    finally:
        os.close(master)


@pytest.mark.integration
@needs(engine_ready())
def test_a_cell_run_shows_its_live_line_on_a_terminal_only(tmp_path):
    """The two runs side by side, each on an engine node of its own (as two cells run in
    parallel, test_engine_faults): one cell's time, not two."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        tty = pool.submit(run_cell, tmp_path / "tty", True)
        pipe = pool.submit(run_cell, tmp_path / "pipe", False)
        (code, on_tty), (piped_code, piped) = tty.result(), pipe.result()
    assert code == 0, on_tty
    assert "daemon stopped" in on_tty and f"{CELL}  outage" in on_tty
    assert piped_code == 0, piped
    assert "daemon stopped" not in piped and "\x1b[" not in piped
    assert "PASS" in piped  # the table, plain
