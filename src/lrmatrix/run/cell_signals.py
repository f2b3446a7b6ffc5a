"""How a cell's pytest takes SIGINT, SIGTERM and SIGHUP: once, kept out of pytest's own code,
never during the teardown, and knowing when its parent died (``lrmatrix.interrupts`` has what
the processes of a run share)."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pluggy
import pytest

from lrmatrix import process
from lrmatrix.deadline import poll
from lrmatrix.errors import INTERRUPTED
from lrmatrix.interrupts import FirstSignal, catchable, mute_broken_outputs, say

INTERRUPTS_KEY = pytest.StashKey["CellInterrupts"]()

#: how long a SIGHUP waits for the parent to be seen gone (its threads exit one by one)
PARENT_EXIT_S = 0.3
#: code an interrupt is kept out of: pytest's and pluggy's own, and contextlib's exits. Raised
#: between two of their steps, KeyboardInterrupt abandons a hook wrapper (pytest's output
#: capture: a traceback at exit), or lands on a line pytest cannot show (pytest then fails
#: with a TypeError and exit 1); it is raised once the main thread is out of them (<= 1 s)
NOT_THERE = (
    str(Path(pluggy.__file__).parent),
    str(Path(inspect.getfile(pytest.Config)).parents[1]),  # _pytest
    contextlib.__file__,
)
RETRY_S, DEFER_AT_MOST_S = 0.005, 1.0


class CellInterrupts:
    """The cell's handler of SIGINT, SIGTERM and SIGHUP.

    The first stops the run where it is (KeyboardInterrupt, once the result is told why). The
    same signal echoed right after it is the same interrupt (a Ctrl-C reaches the group, and
    ``lrmatrix run`` or tox passes its own copy on) and is dropped; a later one is said and
    ignored, so that pytest's reporting and the teardown finish. Once the teardown has begun
    nothing raises: a node half torn down is worse than a run that ends a few seconds later.
    A SIGHUP that comes because the parent died (``die_with_parent``) says so.
    """

    def __init__(
        self, config: pytest.Config, parent: int | None, interrupted: Callable[[pytest.Config, str], None]
    ) -> None:
        self.config = config
        self.parent = parent
        self.interrupted = interrupted
        self.first = FirstSignal()
        self.tearing_down = False
        self.deferred = False

    def orphaned(self, signum: int) -> bool:
        """Whether the parent is gone. The kernel sends SIGHUP when the parent *thread* that
        started us exits: under a SIGKILL that may come a moment before the whole parent is
        gone (tox starts commands from a worker thread), so a SIGHUP waits that moment out."""
        if self.parent is None:
            return False
        wait = PARENT_EXIT_S if signum == signal.SIGHUP else 0.0
        return bool(poll(lambda: os.getppid() != self.parent, wait, 0.01))

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.deferred and signum == self.first.signum:  # our own retry (or its echo)
            self.raise_when_clear(frame)
            return
        name = signal.Signals(signum).name
        if self.orphaned(signum):  # its output went to the parent: nothing reads it any more
            mute_broken_outputs()
            if signum == signal.SIGHUP:
                name = f"{name} (its parent, pid {self.parent}, exited)"
        if not self.first.take(signum, name):
            if not self.first.echo(signum):
                say(f"lrmatrix: {name} again: already stopping after {self.first.name}")
            return
        if self.tearing_down:
            say(f"lrmatrix: {name}: the teardown is under way and finishes first")
            return
        self.interrupted(self.config, name)
        self.raise_when_clear(frame)

    def raise_when_clear(self, frame: FrameType | None) -> None:
        self.deferred = False
        if self.tearing_down:  # the run reached its teardown meanwhile: it finishes as it is
            return
        there = frame is not None and frame.f_code.co_filename.startswith(NOT_THERE)
        if there and time.monotonic() - self.first.at < DEFER_AT_MOST_S:
            self.deferred = True  # the same signal again a moment later: a real one, to the main
            main, signum = threading.main_thread().ident, self.first.signum  # thread, to end a sleep
            assert main is not None and signum is not None
            threading.Timer(RETRY_S, signal.pthread_kill, (main, signum)).start()
            return
        raise KeyboardInterrupt(self.first.name)


def take_signals(config: pytest.Config, interrupted: Callable[[pytest.Config, str], None]) -> None:
    """Ctrl-C, tox, a CI runner or a service manager stopping the run, a closed terminal or SSH
    session, or the parent process dying: each ends in the same teardown. A signal ignored
    when the run started (``nohup``) stays ignored, and then a parent's exit does not stop it."""
    caught = catchable()
    parent = process.die_with_parent(signal.SIGHUP) if signal.SIGHUP in caught else None
    if parent is not None and os.getppid() != parent:
        pytest.exit(f"its parent (pid {parent}) exited before the cell began", returncode=INTERRUPTED)
    handler = CellInterrupts(config, parent, interrupted)
    config.stash[INTERRUPTS_KEY] = handler
    for sig in caught:
        signal.signal(sig, handler)
