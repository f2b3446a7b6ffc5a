"""procfs: the one parser of /proc/<pid>/stat, against real stat lines of this machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lrmatrix.deadline import poll
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
