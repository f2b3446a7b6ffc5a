"""The continuous probe (HTTP and TCP), an open model: every tick sends, whatever earlier requests do.

Each access path has a scheduler thread and a bounded pool of workers. At every tick of the
interval each target (one container's address, ``target_key``) gets a request, cycling through
that container's endpoints, whether or not its earlier requests have answered (wrk2 and k6's
constant arrival rate: no coordinated omission). Each request is judged at its own send time.
A target holds at most ``in_flight_bound`` requests (timeout / interval + 1); a tick that
finds it full is skipped and counted, as is a tick the scheduler woke too late to send (the
machine overloaded): both count against coverage, never silently. The workers of a path
probed from inside the node (``loopback``, ``pod``) each enter the node's network namespace
in the pool's initializer, since setns is per thread on Linux.

A target is HTTP(S) (status and body text) or plain TCP (``tcp://host:port``: connect,
optionally send a line, expect a reply); each request is one exchange on a fresh connection
(``evidence/wire.py``), judged here.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lrmatrix.deadline import poll
from lrmatrix.evidence.wire import TlsContexts, WireError, http_get, tcp_exchange
from lrmatrix.netns import enter as enter_netns

#: the response header naming the container that served a request (nginx ``$hostname``)
SERVED_BY = "X-Served-By"


#: the scheme of a plain TCP endpoint's URL
TCP = "tcp"


@dataclass(frozen=True)
class Target:
    """A URL, the text its answer must contain, and the container that must serve it when the
    address belongs to one container (a published port, a container IP); empty when several
    share it (a Kubernetes NodePort).

    ``http(s)://``: success is status ``status`` and ``expect`` in the body. ``tcp://host:port``:
    success is a connection accepted within the timeout and, after ``send`` (if any), a reply
    holding ``expect`` (an empty ``expect``: the accepted connection is enough). A TCP URL's
    path is only a label (``tcp://host:6379/PING``): samples and answers are kept by URL, so
    two endpoints on one port need one each."""

    url: str
    expect: str
    #: TLS verification for https targets: a CA file (the API server's) or True
    verify: bool | str = True
    container: str = ""
    #: the HTTP status that counts as success
    status: int = 200
    #: TCP only: the text sent once connected (the caller includes any "\r\n")
    send: str = ""
    #: the response header naming the container that served it; "" = none (identity then comes
    #: only from the address, ``container``)
    identify: str = SERVED_BY

    @property
    def tcp(self) -> bool:
        return self.url.startswith(f"{TCP}://")


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
    #: which container answered: the header the target names (nginx: X-Served-By), else the
    #: container owning the address; empty when no answer came or the address is shared
    served_by: str = ""


@dataclass
class PathRecord:
    """Everything one access path's probe recorded, plus its own CPU cost (scheduler and
    workers). ``samples`` are in send order once the probe has stopped (in answer order while
    it runs)."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)  # every endpoint of every container
    cpu_s: float = 0.0
    #: sends skipped, per target and tick: its bound was in flight, or the scheduler woke late
    missed_ticks: int = 0
    #: of those, skipped because the target already had ``in_flight_bound`` requests waiting
    skipped_in_flight: int = 0
    setup_error: str = ""
    stopped: str = ""  # why the probe ended: "asked", "time limit", "request limit" or an error


def request_once(
    session: TlsContexts, target: Target, timeout: float, clock: Callable[[], float] = time.monotonic
) -> Sample:
    """One request to ``target`` on a new connection, judged at its send time."""
    t0, wall = clock(), time.time()
    try:
        if target.tcp:
            parts = urlsplit(target.url)
            reply = tcp_exchange(parts.hostname or "", parts.port or 0, target.send, target.expect, timeout)
            latency = round((clock() - t0) * 1000, 3)
            ok = target.expect.encode() in reply
            err = "" if ok else f"reply {_shown(reply)} without {target.expect!r}"
            # a TCP reply names no one: the address it came from does (a container's own, or "")
            return Sample(t0, wall, target.url, ok, 0, latency, err, target.container)
        resp = http_get(target.url, timeout, session, target.verify)
    except (OSError, ValueError) as exc:  # ValueError: a reply that is not HTTP (chunk sizes)
        latency = (clock() - t0) * 1000
        return Sample(t0, wall, target.url, False, 0, round(latency, 3), _short_error(exc))
    latency = (clock() - t0) * 1000
    ok = resp.status == target.status and target.expect.encode() in resp.body
    err = "" if ok else f"HTTP {resp.status}" + ("" if resp.status != target.status else ": unexpected body")
    # the header the workload names; without one, the address (a container's own, or "")
    served = resp.headers.get(target.identify.lower(), "") if target.identify else target.container
    return Sample(t0, wall, target.url, ok, resp.status, round(latency, 3), err, served)


def _shown(reply: bytes, limit: int = 40) -> str:
    """A reply as a short quoted text for an error line: 'ERR unknown command ...'."""
    text = reply.decode("utf-8", "replace").strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _short_error(exc: Exception) -> str:
    if isinstance(exc, WireError):
        return str(exc)
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


def new_session() -> TlsContexts:
    """What a worker keeps between requests: TLS contexts, never a connection (each request is
    a fresh client, with no proxy from the environment)."""
    return TlsContexts()


def in_flight_bound(interval: float, timeout: float) -> int:
    """Requests one target may have waiting: a request ends by its timeout, so at most this
    many ticks' requests are alive at once unless something holds them past it."""
    return math.ceil(timeout / interval - 1e-9) + 1


def by_target(targets: list[Target]) -> dict[str, list[Target]]:
    """Each target (container address) and its endpoints, in the order given."""
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(target_key(t.url), []).append(t)
    return groups


class _PathSender:
    """One path's workers: a bounded pool whose threads each hold their own TLS contexts and,
    where asked, sit in the node's netns."""

    def __init__(self, record: PathRecord, netns: str | None, workers: int, timeout: float) -> None:
        self.record = record
        self.timeout = timeout
        self.netns = netns
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.pending: set[Future[None]] = set()
        self.closed = False
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(workers, f"probe-{record.name}", self._enter)

    def _enter(self) -> None:
        if self.netns:
            enter_netns(self.netns)
        self.local.session = new_session()

    def send(self, key: str, target: Target) -> None:
        with self.lock:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
        future = self.pool.submit(self._request, key, target)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            self.pending.discard(future)

    def _request(self, key: str, target: Target) -> None:
        cpu = time.thread_time()
        sample = request_once(self.local.session, target, self.timeout)
        with self.lock:
            self.in_flight[key] -= 1
            if not self.closed:
                self.record.samples.append(sample)
                self.record.cpu_s += time.thread_time() - cpu

    def busy(self, key: str, bound: int) -> bool:
        with self.lock:
            return self.in_flight.get(key, 0) >= bound

    def close(self, grace: float) -> None:
        """Wait up to ``grace`` for the requests in flight, then keep what was recorded."""
        with self.lock:
            pending = set(self.pending)
        wait_futures(pending, timeout=grace)
        with self.lock:
            self.closed = True
            self.record.samples.sort(key=lambda s: s.t)
        self.pool.shutdown(wait=False, cancel_futures=True)


class Probe:
    """Background probing of several access paths; bounded in time, ticks and threads."""

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
        self.max_ticks = int(max_seconds / interval) + 1
        self.bound = in_flight_bound(interval, timeout)
        self.records = {name: PathRecord(name, targets=list(targets)) for name, targets in paths.items()}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._senders: list[_PathSender] = []

    def start(self) -> None:
        for name in self.paths:
            thread = threading.Thread(target=self._loop, args=(name,), name=f"probe-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 2)
        for sender in list(self._senders):
            sender.close(self.timeout + 2)

    def _loop(self, name: str) -> None:
        record = self.records[name]
        cpu0 = time.thread_time()
        netns = self.netns.get(name)
        try:
            if netns:  # fails here, once, with the reason, rather than in every worker
                enter_netns(netns)
        except OSError as exc:
            record.setup_error = str(exc)
            return
        groups = by_target(self.paths[name])
        sender = _PathSender(record, netns, self.bound * max(1, len(groups)), self.timeout)
        self._senders.append(sender)
        try:
            record.stopped = self._schedule(record, sender, groups)
        except Exception as exc:  # a probe that dies must say so, never just fall silent
            record.stopped = f"error: {type(exc).__name__}: {exc}"
        finally:
            with sender.lock:
                record.cpu_s += time.thread_time() - cpu0

    def _schedule(self, record: PathRecord, sender: _PathSender, groups: dict[str, list[Target]]) -> str:
        """Send on the grid until asked to stop or a bound is hit; returns why it ended."""
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            if tick >= self.max_ticks:
                return "request limit"
            if time.monotonic() >= start + self.max_seconds:
                return "time limit"
            for key, endpoints in groups.items():
                if sender.busy(key, self.bound):
                    record.skipped_in_flight += 1
                    record.missed_ticks += 1
                else:
                    sender.send(key, endpoints[tick % len(endpoints)])
            tick += 1
            late = int((time.monotonic() - (start + tick * self.interval)) / self.interval)
            if late > 0:  # woke a whole tick or more late: those ticks were not sent, say so
                record.missed_ticks += late * len(groups)
                tick += late
            self._stop.wait(max(0.0, start + tick * self.interval - time.monotonic()))
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


@dataclass(frozen=True)
class DownShare:
    """The share of an interval (the daemon down) in which the path was failing (at least one
    target, as ``path_outages`` merges them), and when that began, in seconds after the
    interval's start (``None``: it never failed)."""

    share: float
    from_s: float | None

    def words(self, interval: str = "the time dockerd was down", since: str = "") -> str:
        """ "failed 76 % of the time dockerd was down, from +4.8 s"; empty if it never failed."""
        if self.from_s is None:
            return ""
        return f"failed {self.share:.0%} of {interval}, from +{self.from_s:.1f} s{since}"


def down_share(samples: list[Sample], lo: float, hi: float) -> DownShare:
    """From send times: the outage windows clipped to ``[lo, hi)``, over its length."""
    covered, first = 0.0, None
    for w in path_outages(samples).windows:
        a, b = max(lo, w.start), min(hi, hi if w.end is None else w.end)
        if b > a:
            covered += b - a
            first = a if first is None else first
    length = hi - lo
    if length <= 0 or first is None:
        return DownShare(0.0, None)
    return DownShare(round(covered / length, 4), round(first - lo, 3))


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


def interval_stats(samples: list[Sample]) -> dict[str, float]:
    """Achieved send interval per target and its jitter, in ms: the probe's real resolution.

    Gaps are taken between one target's consecutive sends (the targets of a tick go out
    together); a skipped tick shows as a gap of two intervals.
    """
    gaps = [
        (b.t - a.t) * 1000
        for group in per_target(samples).values()
        for a, b in itertools.pairwise(sorted(group, key=lambda s: s.t))
    ]
    if len(gaps) < 2:
        return {"mean_ms": 0.0, "stdev_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(gaps)
    return {
        "mean_ms": round(statistics.fmean(gaps), 3),
        "stdev_ms": round(statistics.stdev(gaps), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
    }


@dataclass(frozen=True)
class Awaited:
    """How a wait for targets ended: seconds until every one answered OK once (``None``: the
    deadline came first) and each target's latest answer by URL, so a setup error can name an
    endpoint that never succeeded and what it said (``last_answers``)."""

    seconds: float | None
    answers: dict[str, Sample] = field(default_factory=dict)


def last_answers(awaited: Awaited) -> list[str]:
    """The endpoints whose latest answer failed, each with it: "tcp://10.0.0.2:6379: reply
    'ERR ...' without '+PONG'", "http://10.0.0.2:8080/health: HTTP 503"."""
    return [f"{url}: {s.error or 'no answer'}" for url, s in awaited.answers.items() if not s.ok]


def await_targets(
    targets: list[Target], timeout: float, request_timeout: float, netns: str | None = None
) -> Awaited:
    """Until every target answered OK once (in ``netns`` if given), or ``timeout``.

    Runs in its own thread so entering a namespace never affects the caller's thread.
    """
    unanswered = {t.url: Sample(0.0, 0.0, t.url, False, 0, 0.0, "no answer within the wait") for t in targets}
    outcome = [Awaited(None, unanswered)]

    def attempt() -> None:
        if netns:
            enter_netns(netns)
        session, start = new_session(), time.monotonic()
        pending = list(targets)
        answers = dict(unanswered)

        def all_answered() -> bool:
            for t in pending:
                answers[t.url] = request_once(session, t, request_timeout)
            pending[:] = [t for t in pending if not answers[t.url].ok]
            return not pending

        answered = poll(all_answered, timeout, 0.05)
        outcome[0] = Awaited(time.monotonic() - start if answered else None, answers)

    thread = threading.Thread(target=attempt, name="probe-wait", daemon=True)
    thread.start()
    thread.join(timeout + request_timeout * len(targets) + 5)
    return outcome[0]


def wait_until_ok(
    targets: list[Target],
    timeout: float,
    request_timeout: float,
    netns: str | None = None,
    last: dict[str, Sample] | None = None,
) -> float | None:
    """Seconds until every target answered OK once; ``None`` on timeout. ``last``, if given,
    gets each target's latest answer by URL: what one that never answered OK said."""
    awaited = await_targets(targets, timeout, request_timeout, netns)
    if last is not None:
        last.update(awaited.answers)
    return awaited.seconds
