"""The clock of one cell run: monotonic for what is measured, wall time for what is reported.

Every time in the evidence is a monotonic reading; a result states it as seconds since the
run's start (``rel``) and, where a reader needs a date, as the wall time it corresponds to
(``iso``). The dry run (tests/contract) hands the runner a virtual clock instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lrmatrix.deadline import Clock, nap
from lrmatrix.timestamps import iso


@dataclass(frozen=True)
class RunClock:
    """``t0`` (monotonic) and ``wall0`` (epoch) are the same instant: the run's start."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], object] = nap  # interruptible within a slice (deadline.nap)
    t0: float = field(default=-1.0)
    wall0: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.t0 < 0:
            object.__setattr__(self, "t0", self.now())

    @property
    def waits(self) -> Clock:
        """For ``deadline.poll``: a wait on this clock (virtual in the dry run)."""
        return Clock(self.now, self.sleep)

    def rel(self, t: float | None = None) -> float:
        """Seconds since the run's start, to the millisecond."""
        return round((self.now() if t is None else t) - self.t0, 3)

    def wall(self) -> float:
        """Now as an epoch time on this clock (what ``docker logs --since`` compares with)."""
        return self.wall0 + self.rel()

    def rel_or_none(self, t: float | None) -> float | None:
        return None if t is None else self.rel(t)

    def iso(self, t: float | None = None) -> str:
        """The wall time of monotonic ``t`` (now by default)."""
        return iso(self.wall0 + (self.now() if t is None else t) - self.t0)

    def since(self, start: float) -> float:
        """Seconds from ``start`` until now, to the millisecond."""
        return round(self.now() - start, 3)
