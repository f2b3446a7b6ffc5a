"""Commands in a network namespace without nsenter (lrmatrix.netns, process.run's ``netns``):
the command runs in the namespace, the caller's thread stays where it was, no thread is left
in the namespace, and a namespace that is gone, a timeout or a missing command each give the
exit status and line that ``nsenter --net`` would have given."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from lrmatrix import netns
from lrmatrix.process import run


def _ns(pid: int | str) -> str:
    return str(Path(f"/proc/{pid}/ns/net").readlink())


def test_the_command_runs_in_the_namespace_and_the_caller_stays_out(in_own_netns):
    path = f"/proc/{in_own_netns.pid}/ns/net"
    res = run(["readlink", "/proc/self/ns/net"], netns=path, env={"SEEN": "1"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == _ns(in_own_netns.pid) != _ns("thread-self")
    assert not [t for t in threading.enumerate() if t.name == "netns-start"], "a thread stayed in it"
    # the same as nsenter's, in the output too: the node's namespace has only its loopback
    links = run(["ip", "-o", "link"], netns=path).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    assert run(["sh", "-c", 'echo "$SEEN"'], netns=path, env={"SEEN": "yes"}).stdout == "yes\n"


def test_a_namespace_that_is_gone_is_exit_1_with_the_reason(tmp_path):
    res = run(["true"], netns=str(tmp_path / "gone"))
    assert res.returncode == 1
    assert res.stderr == f"lrmatrix: cannot open {tmp_path / 'gone'}: No such file or directory"


def test_timeout_and_missing_command_as_without_a_namespace(in_own_netns):
    path = f"/proc/{in_own_netns.pid}/ns/net"
    slow = run(["sleep", "30"], netns=path, timeout=0.3)
    assert (slow.returncode, slow.stderr) == (124, "timed out after 0.3s")
    # killed and reaped at its timeout, not waited for until a grandchild lets go of its output
    started = time.monotonic()
    held = run(["sh", "-c", "sleep 20 & sleep 30"], netns=path, timeout=0.3)
    assert held.returncode == 124 and time.monotonic() - started < 10
    missing = run(["no-such-command-here"], netns=path)
    assert (missing.returncode, missing.stderr) == (127, "no-such-command-here: command not found")


def test_an_interrupt_while_starting_stops_what_was_started(in_own_netns):
    """The waiting thread interrupted (the cell's KeyboardInterrupt) while the starter thread
    runs: the process it started is stopped, not left running unwaited."""
    started: list[subprocess.Popen[bytes]] = []
    release = threading.Event()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["sleep", "30"])
        started.append(proc)
        release.wait(5)
        return proc

    def interrupt_the_join() -> None:
        raise KeyboardInterrupt

    original = threading.Thread.join
    calls = []

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        calls.append(self.name)
        if len(calls) == 1:  # the first wait is interrupted; the second one waits it out
            release.set()
            interrupt_the_join()
        original(self, timeout)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(threading.Thread, "join", join)
        with pytest.raises(KeyboardInterrupt):
            netns.started_in(f"/proc/{in_own_netns.pid}/ns/net", start, lambda p: (p.kill(), p.wait()))
    assert calls == ["netns-start", "netns-start"]
    assert started and started[0].poll() is not None, "the started process still runs"
