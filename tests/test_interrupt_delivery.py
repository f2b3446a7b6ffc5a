"""How an interrupt travels between processes, with real processes and real signals but no
node (the engine cells interrupted every way are in test_interrupts.py, which needs root)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from lrmatrix import interrupts
from lrmatrix.interrupts import FirstSignal


def python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], text=True, **kwargs)  # type: ignore[call-overload]


def line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The child's next line, or the child killed and the test failed: a bare readline would
    wait for ever on a child that never prints it."""
    assert proc.stdout is not None
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(proc.stdout.readline)
        try:
            return pending.result(timeout).strip()
        except TimeoutError:
            proc.kill()
            raise AssertionError(f"no line from the child in {timeout} s") from None


def test_a_child_armed_with_die_with_parent_is_told_when_its_parent_is_killed():
    """SIGKILL cannot be passed on: the kernel sends the armed signal instead. Unarmed, the
    grandchild would wait for ever and this test time out."""
    grandchild = """
        import os, signal
        from lrmatrix.process import die_with_parent
        parent = die_with_parent(signal.SIGTERM)
        print(os.getpid(), parent == os.getppid(), flush=True)
        signal.pause()
    """
    spawn = (
        f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {textwrap.dedent(grandchild)!r}])"
    )
    middle = python(f"{spawn}.wait()", stdout=subprocess.PIPE)
    assert middle.stdout is not None
    pid, armed = line(middle).split()
    assert armed == "True"
    middle.kill()
    middle.wait()
    psutil.Process(int(pid)).wait(timeout=10)  # raises TimeoutExpired if nothing told it


def test_output_to_a_reader_that_is_gone_is_muted_and_nothing_else():
    """The parent that read a cell's output died: its teardown must not fail on a print. A
    stream that still has a reader (stderr here) is left alone."""
    child = python(
        """
        import os, sys
        from lrmatrix.interrupts import mute_broken_outputs
        sys.stdin.read()
        muted = mute_broken_outputs()
        print("x" * 200_000, flush=True)
        os.write(2, repr(muted).encode())
        """,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader of its stdout is gone
    child.stdin.close()
    assert child.stderr.read() == "[1]"
    assert child.wait(timeout=30) == 0


def test_the_same_signal_right_after_the_first_is_an_echo_and_another_is_not(monkeypatch):
    clock = iter([100.0, 100.5, 103.0])
    monkeypatch.setattr(interrupts.time, "monotonic", lambda: next(clock))
    first = FirstSignal()
    assert first.take(signal.SIGINT)
    assert first.name == "SIGINT"
    assert not first.take(signal.SIGINT)  # later ones are never the first
    assert first.echo(signal.SIGINT)  # +0.5 s: the group's copy and the parent's
    assert not first.echo(signal.SIGTERM)  # another signal is news
    assert not first.echo(signal.SIGINT)  # +3 s: a second Ctrl-C


FORWARDING_PARENT = """
    import signal, subprocess, sys
    from lrmatrix.interrupts import Forwarder
    kid = subprocess.Popen([sys.executable, "-c", {kid!r}], stdout=sys.stdout)
    fw = Forwarder(lambda: [kid], "parent", escalate=True).install()
    print("ready", flush=True)
    try:
        print("kid exited", kid.wait(), flush=True)
        print("parent saw", fw.received, flush=True)
        kid.wait()
    except KeyboardInterrupt:
        print("parent escalated", flush=True)
        kid.kill()  # as tox's own stop ends, after its own SIGINT and SIGTERM
"""
#: a cell that needs one more signal, once told, to finish its teardown
#: os.write, not print: a print inside a handler that interrupts the previous handler's print
#: raises "reentrant call" on the buffered writer, and the kid exits 1 (seen once in CI)
KID = """
import os, signal, sys
got = []
def note(signum, frame):
    got.append(signum)
    os.write(1, f"kid got {signal.Signals(signum).name}\\n".encode())
    if len(got) == 2:
        sys.exit(130)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, note)
print("kid ready", flush=True)
while True:
    signal.pause()
"""


def start_forwarding_parent() -> subprocess.Popen[str]:
    parent = python(FORWARDING_PARENT.format(kid=KID), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert parent.stdout is not None
    assert {line(parent), line(parent)} == {"ready", "kid ready"}
    return parent


@pytest.mark.parametrize("sig", interrupts.INTERRUPT_SIGNALS, ids=lambda s: s.name)
def test_a_parent_passes_the_first_interrupt_on_and_waits(sig):
    parent = start_forwarding_parent()
    parent.send_signal(sig)
    assert parent.stdout is not None and parent.stderr is not None
    assert line(parent) == f"kid got {sig.name}"
    parent.send_signal(sig)  # the same again at once: passed on too, not tox's own stop
    out, err = parent.communicate(timeout=30)
    assert out.splitlines() == [f"kid got {sig.name}", "kid exited 130", f"parent saw {sig.name}"]
    assert err.strip() == f"parent: {sig.name}: passed on; waiting for the cell to tear its node down"
    assert parent.returncode == 0


def test_a_second_interrupt_is_the_parents_own_stop():
    parent = start_forwarding_parent()
    parent.send_signal(signal.SIGTERM)
    assert parent.stdout is not None
    assert line(parent) == "kid got SIGTERM"
    parent.send_signal(signal.SIGINT)
    out, err = parent.communicate(timeout=30)
    assert "parent escalated" in out
    assert "parent: SIGINT again: stopping the commands without waiting" in err


def test_with_no_child_yet_a_parent_with_a_stop_of_its_own_stops_at_once():
    """tox between two commands: its own stop also covers a command a worker thread starts
    meanwhile (tox refuses to start one once interrupted)."""
    parent = python(
        """
        import signal
        from lrmatrix.interrupts import Forwarder
        fw = Forwarder(lambda: [], "tox", escalate=True).install()
        try:
            print("ready", flush=True)
            signal.pause()
        except KeyboardInterrupt:
            print("stopped by", fw.received, flush=True)
        """,
        stdout=subprocess.PIPE,
    )
    assert line(parent) == "ready"
    parent.send_signal(signal.SIGTERM)
    assert parent.communicate(timeout=30)[0].strip() == "stopped by SIGTERM"
    assert parent.returncode == 0


def test_a_signal_ignored_at_start_stays_ignored():
    """nohup: a run started with SIGHUP ignored is not stopped by a hang-up."""
    child = python(
        """
        from lrmatrix.interrupts import catchable
        print(" ".join(s.name for s in catchable()))
        """,
        stdout=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    assert child.communicate(timeout=30)[0].split() == ["SIGINT", "SIGTERM"]


@pytest.mark.parametrize("module", ["pluggy", "_pytest.logging"])
def test_the_cells_interrupt_is_kept_out_of_pytests_own_code(module):
    """Raised between two steps of pluggy's loop over hook wrappers, KeyboardInterrupt left a
    wrapper (pytest's output capture) unfinished, whose traceback was printed at exit; raised
    in pytest's logging wrapper it made pytest fail to show it (TypeError, exit 1). Both were
    seen in Ctrl-Cs to tox. Signalled there, the cell raises a moment later, once out of it."""
    import importlib
    from types import SimpleNamespace

    from lrmatrix.run.cell_signals import CellInterrupts

    config = SimpleNamespace(stash=pytest.Stash())
    handler = CellInterrupts(config, parent=None, interrupted=lambda config, name: None)  # type: ignore[arg-type]
    there: dict[str, object] = {}  # a frame whose code is that module's
    source = importlib.import_module(module).__file__
    exec(compile("import sys; frame = sys._getframe()", str(source), "exec"), there)
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        handler(signal.SIGTERM, there["frame"])  # type: ignore[arg-type]
        assert handler.deferred  # not raised there
        began = time.monotonic()
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            time.sleep(5)  # out of pluggy, in a wait the retry must end (not a flag read after it)
        assert time.monotonic() - began < 1
        assert not handler.deferred
    finally:
        signal.signal(signal.SIGTERM, previous)
