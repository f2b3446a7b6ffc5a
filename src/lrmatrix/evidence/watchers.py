"""Watchers of a node while the scenario runs: the daemon stays gone, the NAT table around a start.

Both run one check again and again in a background thread, through ``every``: the one
bounded poll loop they share. A check that raises is counted, never taken for an answer.
"""

from __future__ import annotations

import bisect
import operator
import threading
import time
from collections.abc import Callable
from typing import Any

from lrmatrix.deadline import Clock, poll
from lrmatrix.drivers.base import Node
from lrmatrix.errors import LrmatrixError

#: how often the daemon is checked while it must be gone: the bound is 250 ms; a check takes
#: a few ms on an engine node and tens of ms over ssh, and a busy 2-core machine delays the
#: thread by tens of ms more (a 200 ms period was seen to leave a 253 ms gap), hence 100 ms
DAEMON_CHECK_PERIOD_S = 0.1
#: how often the NAT table is read around a start: dockerd's chain is gone for ~0.2 s
NAT_SAMPLE_PERIOD_S = 0.02


def every(period: float, step: Callable[[], bool], stop: threading.Event, limit_s: float) -> None:
    """Call ``step`` every ``period`` seconds until it returns False, ``stop`` is set or
    ``limit_s`` has passed."""
    poll(lambda: stop.is_set() or not step(), limit_s, period, Clock(sleep=stop.wait))


class Watcher:
    """One check in a background thread; ``stop`` ends it and waits for it."""

    name = "watch"

    def __init__(self, period: float, limit_s: float) -> None:
        self.period = period
        self.limit_s = limit_s
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=every, args=(period, self._guarded, self._stop, limit_s), name=self.name, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _guarded(self) -> bool:
        try:
            return self.step()
        except (LrmatrixError, OSError, NotImplementedError) as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return len(self.failures) < 20  # a check that keeps failing proves nothing: stop

    def step(self) -> bool:
        raise NotImplementedError


class DaemonWatch(Watcher):
    """Checks that the node's daemon stays gone; keeps the first time it was seen up again
    (a respawning init, socket activation, someone else) and stops there."""

    name = "daemon-watch"

    def __init__(self, node: Node, period: float = DAEMON_CHECK_PERIOD_S, limit_s: float = 3600.0) -> None:
        super().__init__(period, limit_s)
        self.node = node
        self.checks = 0
        self.last_check: float | None = None
        self.longest_gap_s = 0.0
        self.came_back_at: float | None = None
        self.came_back = ""

    def step(self) -> bool:
        now = time.monotonic()
        if self.last_check is not None:
            self.longest_gap_s = max(self.longest_gap_s, now - self.last_check)
        self.last_check = now
        up = self.node.daemon_up()
        self.checks += 1
        if up:
            self.came_back_at, self.came_back = now, up
            return False
        return True

    def as_dict(self, t0: float) -> dict[str, Any]:
        return {
            "period_s": self.period,
            "checks": self.checks,
            "longest_gap_s": round(self.longest_gap_s, 3),
            "came_back_at": None if self.came_back_at is None else round(self.came_back_at - t0, 3),
            "came_back": self.came_back,
            "check_errors": self.failures[:5],
        }


class NatWatch(Watcher):
    """Samples the node's DOCKER NAT chain: ``None`` when it is missing, else its DNAT rules."""

    name = "nat-watch"

    def __init__(self, node: Node, period: float = NAT_SAMPLE_PERIOD_S, limit_s: float = 60.0) -> None:
        super().__init__(period, limit_s)
        self.node = node
        self.samples: list[tuple[float, int | None]] = []

    def step(self) -> bool:
        now = time.monotonic()
        rules = self.node.dockerd.nat_rules()
        self.samples.append((now, None if rules is None else sum("DNAT" in r for r in rules)))
        return True

    def missing(self) -> list[tuple[float, float]]:
        """Spans [first, last sample] of consecutive samples that saw the chain missing."""
        spans: list[tuple[float, float]] = []
        run_start: float | None = None
        last = 0.0
        for t, dnat in [*self.samples, (float("inf"), 0)]:
            if dnat is None:
                run_start = t if run_start is None else run_start
                last = t
            elif run_start is not None:
                spans.append((run_start, last))
                run_start = None
        return spans

    def as_dict(self, t0: float) -> dict[str, Any]:
        return {
            "samples": len(self.samples),
            "period_s": self.period,
            "missing": [[round(a - t0, 3), round(b - t0, 3)] for a, b in self.missing()],
            "dnat_rules": [[round(t - t0, 3), n] for t, n in self.samples],
            "check_errors": self.failures[:5],
        }


class ProcessTimeline(Watcher):
    """Which dockerd and containerd processes run, sampled through a disruption the harness
    does not drive itself (a package upgrade): when each process was last and first seen."""

    name = "process-timeline"

    def __init__(
        self,
        node: Node,
        names: tuple[str, ...] = ("dockerd", "containerd"),
        period: float = DAEMON_CHECK_PERIOD_S,
        limit_s: float = 3600.0,
    ) -> None:
        super().__init__(period, limit_s)
        self.node = node
        self.names = names
        self.samples: list[tuple[float, dict[str, list[int]]]] = []  # in time order
        self._lock = threading.Lock()

    def step(self) -> bool:
        at = time.monotonic()  # the scan's state is from its start, not from when the answer came
        found = self.node.processes.by_names(self.names)
        with self._lock:  # the scenario samples too, at the first command's start and the last's end
            bisect.insort(self.samples, (at, found), key=lambda sample: sample[0])
        return True

    def around(
        self, start: float, end: float, until: float | None = None
    ) -> tuple[dict[str, list[int]], dict[str, list[int]]] | None:
        """What ran as ``start`` came (the last sample before it) and as ``end`` passed (the
        first sample after it, or with ``until``, when what follows begins, the last sample
        before that); None without samples."""
        if not self.samples:
            return None
        before = [found for t, found in self.samples if t <= start] or [self.samples[0][1]]
        if until is not None:  # no sample within the step: it left what ran as it began
            after = [found for t, found in self.samples if t < until][-1:]
        else:
            after = [found for t, found in self.samples if t >= end][:1] or [self.samples[-1][1]]
        return before[-1], (after or before)[-1]

    def lives(self, name: str) -> dict[int, tuple[float, float]]:
        """Per pid of ``name``: the first and the last sample that saw it."""
        spans: dict[int, tuple[float, float]] = {}
        for t, found in self.samples:
            for pid in found[name]:
                spans[pid] = (spans.get(pid, (t, t))[0], t)
        return spans

    def as_dict(self, t0: float) -> dict[str, Any]:
        times = [t for t, _ in self.samples]
        return {
            "samples": len(self.samples),
            "period_s": self.period,
            "longest_gap_s": round(max(map(operator.sub, times[1:], times[:-1]), default=0.0), 3),
            "processes": {
                name: [[pid, round(a - t0, 3), round(b - t0, 3)] for pid, (a, b) in self.lives(name).items()]
                for name in self.names
            },
            "check_errors": self.failures[:5],
        }
