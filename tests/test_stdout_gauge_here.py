"""The stdout gauge of a node whose /proc is this machine's runs in the harness's process: it
must see what the script a remote node runs sees, and start no command."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, cast

import pytest

from lrmatrix.deadline import poll
from lrmatrix.drivers.base import Node
from lrmatrix.evidence import stdout_pipes

#: writes into its stdout until the pipe is full and the write blocks
FLOOD = "import sys\nwhile True: sys.stdout.write('x' * 4096); sys.stdout.flush()"


class _Here:
    """A node whose processes are ours; any command it is asked to run fails the test."""

    procfs_here = True

    def run(self, argv: list[str], timeout: float = 60.0) -> Any:
        pytest.fail(f"the gauge started a command on a node whose /proc is here: {argv[:2]}")


@pytest.fixture
def blocked_writer():
    proc = subprocess.Popen([sys.executable, "-c", FLOOD], stdout=subprocess.PIPE)
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _script(pid: int) -> dict[int, stdout_pipes.Gauge]:
    """What ``python3 -c GAUGE PID`` reports, as a remote node runs it (the reader of the pipe,
    this process, stands where the shim would)."""
    argv = [sys.executable, "-c", stdout_pipes.GAUGE, str(pid)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return stdout_pipes.parse(done.stdout)


def test_in_process_gauge_sees_what_the_script_sees(blocked_writer):
    node = cast(Node, _Here())
    assert poll(lambda: log_blocked(stdout_pipes.measure(node, [blocked_writer])), 10, 0.05)
    here = stdout_pipes.measure(node, [blocked_writer])[blocked_writer]
    there = _script(blocked_writer)[blocked_writer]
    assert here == there
    assert here.blocked_on("stdout") == [blocked_writer]
    assert here.streams["stdout"].queued > 0


def test_a_writer_that_is_not_blocked_is_not_seen_blocked():
    """The other way: a process sleeping, not writing, is in no write (the check can fail)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        gauge = stdout_pipes.measure(cast(Node, _Here()), [proc.pid])[proc.pid]
        assert gauge.blocked_on("stdout") == []
    finally:
        proc.kill()
        proc.wait()


def log_blocked(gauges: dict[int, stdout_pipes.Gauge]) -> bool:
    return any(g.blocked_on("stdout") for g in gauges.values())
