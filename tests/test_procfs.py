"""procfs: the one parser of /proc/<pid>/stat, against real stat lines of this machine (and a
process's start read through it)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lrmatrix.command import CmdResult
from lrmatrix.deadline import poll
from lrmatrix.modules.processes import Processes
from lrmatrix.modules.procfs import Stat, parse_stat, parse_stats


def test_reads_this_process() -> None:
    st = parse_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert st is not None
    assert (st.pid, st.ppid, st.zombie) == (os.getpid(), os.getppid(), False)
    assert st.start_ticks > 0


def test_a_command_name_with_spaces_and_parentheses() -> None:
    line = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0"
    st = parse_stat(line)
    assert st is not None
    assert (st.comm, st.state, st.ppid, st.start_ticks) == ("a) b (c)", "S", 17, 98765)


def test_a_zombie_is_seen_as_one() -> None:
    child = subprocess.Popen(["true"])
    try:
        st = poll(lambda: _zombie(child.pid), 10, 0.01)
        assert st is not None and st.zombie and st.ppid == os.getpid()
    finally:
        child.wait()


def test_lines_that_are_not_stat_are_left_out() -> None:
    good = Path(f"/proc/{os.getpid()}/stat").read_text()
    assert [s.pid for s in parse_stats(f"{good}\ncat: /proc/1/stat: gone\n\n")] == [os.getpid()]


def _zombie(pid: int) -> Stat | None:
    st = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    return st if st is not None and st.zombie else None


class _Here:
    """A node that is this machine: its commands run here, as a node's shell would run them."""

    name = "here"

    def run(self, argv: list[str], timeout: float = 60.0) -> CmdResult:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return CmdResult(tuple(argv), res.returncode, res.stdout, res.stderr)


def test_a_process_start_on_the_harness_clock_is_never_later_than_the_truth() -> None:
    """What ends a package upgrade's 'while down': read through the node's shell and mapped to
    time.monotonic(), a process's start lies between the clock before its spawn (less the
    read's rounding) and the clock after it."""
    procs = Processes(_Here())  # type: ignore[arg-type]  # run and name are all it uses
    before = time.monotonic()
    child = subprocess.Popen(["sleep", "30"])
    after = time.monotonic()
    try:
        started = procs.started(child.pid, "sleep")
        assert started is not None
        assert before - 0.05 <= started <= after, (before, started, after)
        assert procs.started(child.pid, "dockerd") is None  # the pid is another process
    finally:
        child.kill()
        child.wait()
    assert procs.started(child.pid, "sleep") is None  # gone
