"""The one bounded wait of the harness: check, sleep, check again until an answer or a deadline.

Every wait in ``src/`` goes through ``poll`` so a wait is always bounded in time and reads the
same way. The clock is a parameter: the real one by default, or a Kubernetes runner's, which
is virtual when the tests replay a cell on a recording runner (a wait there costs nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


#: the longest single sleep of the harness's main thread (see ``nap``)
NAP_SLICE_S = 0.2


def nap(seconds: float) -> None:
    """``time.sleep`` in slices of at most ``NAP_SLICE_S``. CPython runs a signal's handler
    only between bytecodes: a signal that lands after the last check and before the sleep's
    system call (the thread has just released the GIL; on a starved machine it can sit there)
    interrupts nothing, and a 25 s outage window slept in one call then honours Ctrl-C only
    when it ends. In slices, that costs at most one slice."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, NAP_SLICE_S))


@dataclass(frozen=True)
class Clock:
    """Where a wait reads the time and how it passes time."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], object] = nap


REAL = Clock()


def poll(check: Callable[[], T], timeout: float, interval: float, clock: Clock = REAL) -> T:
    """Call ``check`` every ``interval`` seconds (start to start) until it returns something
    truthy, or ``timeout`` seconds have passed on ``clock``; its last value either way (falsy
    means time ran out). It is called at least once, and once more at the deadline."""
    deadline = clock.now() + timeout
    while True:
        began = clock.now()
        value = check()
        left = deadline - clock.now()
        if value or left <= 0:
            return value
        clock.sleep(min(max(0.0, interval - (clock.now() - began)), left))
