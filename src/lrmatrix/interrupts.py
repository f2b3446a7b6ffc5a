"""How an interrupt travels between the processes of a run (tox or ``lrmatrix run``, then the
cell's pytest), so that whichever of them is signalled, the cell tears its node down once and
every process above it waits for that.

A terminal's Ctrl-C or hang-up signals the whole process group; ``kill``, a CI runner or a
service manager may signal one process alone. So:

- a parent passes each interrupt on to its children and keeps waiting (``Forwarder``);
- the cell takes the same signal arriving twice at once (from the group and from its parent)
  as one interrupt (``FirstSignal``);
- a cell whose parent died anyway (SIGKILL) is told by the kernel (``process.die_with_parent``)
  and stops its output going to a reader that is gone (``mute_broken_outputs``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

import psutil

#: Ctrl-C, a stop (CI runner cancelling a job, service manager, ``kill``), a closed terminal
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: the same signal again within this long is the same interrupt delivered twice (to the group
#: and passed on by the parent), not a second Ctrl-C
SAME_INTERRUPT_S = 2.0

Handler = Callable[[int, FrameType | None], Any]


def catchable() -> tuple[signal.Signals, ...]:
    """The interrupt signals this process may handle: one ignored when it started (``nohup``
    ignores SIGHUP) stays ignored, as a shell leaves it."""
    return tuple(s for s in INTERRUPT_SIGNALS if signal.getsignal(s) != signal.SIG_IGN)


def say(line: str) -> None:
    """One line on stderr from a signal handler: ``os.write``, because the interrupted frame may
    be inside a buffered write to the same stream, and re-entering it raises."""
    with contextlib.suppress(OSError):
        os.write(2, f"{line}\n".encode())


def mute_broken_outputs() -> list[int]:
    """Point stdout and stderr at /dev/null once nothing reads them (the parent that read the
    pipe died, the terminal hung up), so that a teardown does not fail on a print; the fds muted."""
    muted = []
    for fd in (1, 2):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, ev in poller.poll(0)):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            muted.append(fd)
    return muted


@dataclass
class FirstSignal:
    """The interrupt that stopped this process, and whether a later signal is that one again."""

    signum: int | None = None
    at: float = 0.0
    label: str = ""

    @property
    def name(self) -> str:
        """How the first interrupt is named in output and in the result; '' if none came."""
        return self.label or (signal.Signals(self.signum).name if self.signum is not None else "")

    def take(self, signum: int, label: str = "") -> bool:
        """True for the first interrupt, which this records; False for any later one."""
        if self.signum is not None:
            return False
        self.signum, self.at, self.label = signum, time.monotonic(), label
        return True

    def echo(self, signum: int) -> bool:
        """The first signal again, right after it: one interrupt delivered twice."""
        return signum == self.signum and time.monotonic() - self.at < SAME_INTERRUPT_S


class Signallable(Protocol):
    """A child to pass a signal on to: subprocess.Popen or psutil.Process."""

    def send_signal(self, sig: int) -> None: ...


@dataclass
class Forwarder:
    """In a parent (``lrmatrix run``, tox): an interrupt is passed on to the children, and the
    parent keeps waiting for them, since they hold the node and tear it down.

    ``escalate`` (tox): a second interrupt, not the first one echoed, raises KeyboardInterrupt
    into the parent's own stop (tox's: SIGINT, SIGTERM after interrupt_timeout, then SIGKILL),
    and so does a first one with no child to wait for. Otherwise (``lrmatrix run``) every
    interrupt is passed on, and the parent asks ``received`` before it starts another child.
    """

    children: Callable[[], Iterable[Signallable]]
    who: str
    waits_for: str = "the cell to tear its node down"
    escalate: bool = False
    on_first: Callable[[str], None] | None = None
    first: FirstSignal = field(default_factory=FirstSignal)
    _previous: dict[int, Any] = field(default_factory=dict)

    @property
    def received(self) -> str:
        """The first interrupt's name, '' if none came."""
        return self.first.name

    def install(self) -> Forwarder:
        for sig in catchable():
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        first = self.first.take(signum)
        if not first and self.escalate and not self.first.echo(signum):
            self.restore()
            say(f"{self.who}: {name} again: stopping the commands without waiting")
            raise KeyboardInterrupt(name)
        children = list(self.children())
        for child in children:
            with contextlib.suppress(OSError, psutil.Error):  # it ended meanwhile
                child.send_signal(signum)
        if not first:
            return
        if self.on_first is not None:
            self.on_first(name)
        if children:
            say(f"{self.who}: {name}: passed on; waiting for {self.waits_for}")
        elif self.escalate:  # nothing to wait for yet: the parent's own stop, which also
            self.restore()  # stops what its other threads start meanwhile
            raise KeyboardInterrupt(name)
