"""The continuous HTTP probe: one background thread per access path, new connection per request.

Each access path gets one request per interval, cycling through its targets (every endpoint
of every container), so the outage resolution of a path is the interval, whatever the
number of targets. A thread for the ``loopback`` path first enters the node's network
namespace (setns is per-thread on Linux), so 127.0.0.1 is the node's loopback.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from lrmatrix.deadline import poll

CLONE_NEWNET = 0x40000000
#: the response header naming the container that served a request (nginx ``$hostname``)
SERVED_BY = "X-Served-By"


@dataclass(frozen=True)
class Target:
    """A URL, the text its body must contain, and the container that must serve it when the
    address belongs to one container (a published port, a container IP); empty when several
    share it (a Kubernetes NodePort)."""

    url: str
    expect: str
    #: TLS verification for https targets: a CA file (the API server's) or True
    verify: bool | str = True
    container: str = ""


@dataclass(frozen=True)
class Sample:
    """One request: monotonic send time (s), wall time, outcome, latency, error text."""

    t: float
    wall: float
    url: str
    ok: bool
    status: int
    latency_ms: float
    error: str = ""
    served_by: str = ""  # the X-Served-By header: which container answered; empty if none did


@dataclass
class PathRecord:
    """Everything one access path's thread recorded, plus its own CPU cost."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)  # the round robin, in order
    cpu_s: float = 0.0
    missed_ticks: int = 0
    setup_error: str = ""
    stopped: str = ""  # why the thread ended: "asked", "time limit", "request limit" or an error


def enter_netns(path: str) -> None:
    """Move the calling thread (only it) into the network namespace at ``path``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def request_once(
    session: requests.Session, target: Target, timeout: float, clock: Callable[[], float] = time.monotonic
) -> Sample:
    t0, wall = clock(), time.time()
    try:
        resp = session.get(target.url, timeout=timeout, allow_redirects=False, verify=target.verify)
        latency = (clock() - t0) * 1000
        ok = resp.status_code == 200 and target.expect in resp.text
        err = (
            ""
            if ok
            else f"HTTP {resp.status_code}" + ("" if resp.status_code != 200 else ": unexpected body")
        )
        served = resp.headers.get(SERVED_BY, "")
        return Sample(t0, wall, target.url, ok, resp.status_code, round(latency, 3), err, served)
    except requests.RequestException as exc:
        latency = (clock() - t0) * 1000
        return Sample(t0, wall, target.url, False, 0, round(latency, 3), _short_error(exc))


def _short_error(exc: Exception) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "timed out",
        "No route to host",
        "Connection reset",
        "RemoteDisconnected",
        "Network is unreachable",
    ):
        if marker in text:
            return marker
    return type(exc).__name__


def new_session() -> requests.Session:
    """No keep-alive and no proxies from the environment: each request is a fresh client."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Connection"] = "close"
    return session


class Probe:
    """Background probing of several access paths; bounded in time and request count."""

    def __init__(
        self,
        paths: dict[str, list[Target]],
        interval: float,
        timeout: float,
        netns: dict[str, str] | None = None,
        max_seconds: float = 900.0,
    ) -> None:
        self.paths = paths
        self.interval = interval
        self.timeout = timeout
        self.netns = netns or {}
        self.max_seconds = max_seconds
        self.max_requests = int(max_seconds / interval) + 1
        self.records = {name: PathRecord(name, targets=list(targets)) for name, targets in paths.items()}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name in self.paths:
            thread = threading.Thread(target=self._loop, args=(name,), name=f"probe-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 2)

    def _loop(self, name: str) -> None:
        record = self.records[name]
        cpu0 = time.thread_time()
        try:
            if name in self.netns:
                enter_netns(self.netns[name])
        except OSError as exc:
            record.setup_error = str(exc)
            return
        session = new_session()
        try:
            record.stopped = self._requests(record, session, self.paths[name], cpu0)
        except Exception as exc:  # a probe that dies must say so, never just fall silent
            record.stopped = f"error: {type(exc).__name__}: {exc}"
        finally:
            session.close()

    def _requests(
        self, record: PathRecord, session: requests.Session, targets: list[Target], cpu0: float
    ) -> str:
        """Send on the grid until asked to stop or a bound is hit; returns why it ended."""
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            if tick >= self.max_requests:
                return "request limit"
            if time.monotonic() >= start + self.max_seconds:
                return "time limit"
            record.samples.append(request_once(session, targets[tick % len(targets)], self.timeout))
            record.cpu_s = time.thread_time() - cpu0
            next_tick = tick + 1
            due = start + next_tick * self.interval
            now = time.monotonic()
            if now > due:  # a slow request: skip the ticks it overran, keep the grid
                skipped = int((now - due) / self.interval) + 1
                record.missed_ticks += skipped
                next_tick += skipped
                due = start + next_tick * self.interval
            tick = next_tick
            self._stop.wait(max(0.0, due - time.monotonic()))
        return "asked"


@dataclass(frozen=True)
class Window:
    """A run of failed requests: from the first failure to the next success (or ``None``)."""

    start: float
    end: float | None
    failed: int

    def duration(self, until: float) -> float:
        return (self.end if self.end is not None else until) - self.start


def outage_windows(samples: list[Sample]) -> list[Window]:
    windows: list[Window] = []
    start: float | None = None
    failed = 0
    for s in sorted(samples, key=lambda s: s.t):
        if not s.ok:
            if start is None:
                start, failed = s.t, 0
            failed += 1
        elif start is not None:
            windows.append(Window(start, s.t, failed))
            start = None
    if start is not None:
        windows.append(Window(start, None, failed))
    return windows


def target_key(url: str) -> str:
    """The container a request reached (scheme://host:port): its endpoints share its fate."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def per_target(samples: list[Sample]) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(target_key(s.url), []).append(s)
    return groups


def merge(windows: list[Window]) -> list[Window]:
    """The union of windows: when at least one target of the path was failing."""
    merged: list[Window] = []
    for w in sorted(windows, key=lambda w: w.start):
        last = merged[-1] if merged else None
        if last is not None and (last.end is None or w.start <= last.end):
            end = None if last.end is None or w.end is None else max(last.end, w.end)
            merged[-1] = Window(last.start, end, last.failed + w.failed)
        else:
            merged.append(w)
    return merged


@dataclass(frozen=True)
class PathOutages:
    """A path's outages judged per target and merged: a window is a span in which at least one
    target (container) was failing, so one container failing is not hidden by another
    answering in between; ``longest_s`` is the longest such span."""

    windows: list[Window]
    longest_s: float


def path_outages(samples: list[Sample]) -> PathOutages:
    end = max((s.t for s in samples), default=0.0)
    merged = merge([w for group in per_target(samples).values() for w in outage_windows(group)])
    return PathOutages(merged, max((w.duration(end) for w in merged), default=0.0))


def recovery_after(samples: list[Sample], since: float) -> float | None:
    """Seconds after ``since`` (the daemon's API answering again) until every target of the
    path answered again: 0.0 if none was failing then, ``None`` if one never did (or the path
    was never probed, which proves nothing)."""
    if not samples:
        return None
    latest = 0.0
    for group in per_target(samples).values():
        for w in outage_windows(group):
            if w.start <= since and (w.end is None or w.end > since):
                if w.end is None:
                    return None
                latest = max(latest, w.end - since)
    return round(latest, 3)


def interval_stats(samples: list[Sample], interval: float | None = None) -> dict[str, float]:
    """Achieved send interval and its jitter, in ms: the probe's real resolution.

    With ``interval``, a gap after a request that itself took longer than one interval is left
    out: that request skipped ticks (counted as ``missed_ticks``) and says nothing about how
    precisely the probe keeps its grid.
    """
    ordered_samples = sorted(samples, key=lambda s: s.t)
    gaps = [
        (b.t - a.t) * 1000
        for a, b in itertools.pairwise(ordered_samples)
        if interval is None or a.latency_ms < interval * 1000
    ]
    if len(gaps) < 2:
        return {"mean_ms": 0.0, "stdev_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(gaps)
    return {
        "mean_ms": round(statistics.fmean(gaps), 3),
        "stdev_ms": round(statistics.stdev(gaps), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
    }


def wait_until_ok(
    targets: list[Target], timeout: float, request_timeout: float, netns: str | None = None
) -> float | None:
    """Seconds until every target answered OK once (in ``netns`` if given); ``None`` on timeout.

    Runs in its own thread so entering a namespace never affects the caller's thread.
    """
    outcome: list[float | None] = [None]

    def attempt() -> None:
        if netns:
            enter_netns(netns)
        session, start = new_session(), time.monotonic()
        pending = list(targets)

        def all_answered() -> bool:
            pending[:] = [t for t in pending if not request_once(session, t, request_timeout).ok]
            return not pending

        answered = poll(all_answered, timeout, 0.05)
        session.close()
        outcome[0] = time.monotonic() - start if answered else None

    thread = threading.Thread(target=attempt, name="probe-wait", daemon=True)
    thread.start()
    thread.join(timeout + request_timeout * len(targets) + 5)
    return outcome[0]
