"""What stands between a container's stdout and dockerd, measured on the node, never assumed.

A container's process writes its stdout into a pipe read by containerd-shim, which copies it
into a FIFO (``…/init-stdout`` on Docker 20.10, ``…/<id>-stdout`` on 26.1 and 28.5) read by
dockerd. While dockerd is down nobody drains the
FIFO: it fills, the shim's copy blocks, the pipe fills, and the next write of the process
blocks. The capacity of that chain is what live-restore can absorb of a workload's logs.

``GAUGE`` runs on the node (``python3 -c GAUGE PID…``, stdlib only, read-only): for each
process it reports its wait channel and the pipe it is blocked writing into, if any (from
``/proc/PID/syscall``: a write on an fd), and per stream every pipe or FIFO of the chain with
its capacity (``F_GETPIPE_SZ``) and the bytes queued in it (``FIONREAD``). How many bytes
make a pipe full depends on the writes (each takes whole 4 KiB pages: 1.1 kB lines fill
one at 3.3 kB), so fullness is read from a writer blocked on it, not from a byte count. Opening a pipe
through ``/proc/PID/fd/N`` and asking ``FIONREAD`` does not read from it, so the gauge
never drains what it measures.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lrmatrix.modules.procfs import STAT_FIELDS_SOURCE

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node

#: wait channels of a process blocked writing into a full pipe or FIFO (kernel versions differ)
PIPE_WRITE_WCHANS = frozenset({"pipe_write", "anon_pipe_write", "pipe_wait"})

GAUGE = r"""
import array, fcntl, json, os, platform, sys, termios
F_GETPIPE_SZ = 1032
WRITES = {"x86_64": (1, 20), "aarch64": (64, 66)}.get(platform.machine(), ())
def gauge(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return {"error": exc.strerror}
    try:
        queued = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, queued)
        return {"capacity": fcntl.fcntl(fd, F_GETPIPE_SZ), "queued": queued[0]}
    except OSError as exc:
        return {"error": exc.strerror}
    finally:
        os.close(fd)
def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
def ppid(pid):
    fields = stat_fields(read(f"/proc/{pid}/stat"))
    return int(fields[1]) if len(fields) > 1 else 0
def writing(pid):
    # the pipe a process is blocked writing into: /proc/PID/syscall names the call and its fd
    fields = read(f"/proc/{pid}/syscall").split()
    if len(fields) < 2 or not fields[0].isdigit() or int(fields[0]) not in WRITES:
        return ""
    try:
        return os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}")
    except (OSError, ValueError):
        return ""
def family(pid):
    kids = read(f"/proc/{pid}/task/{pid}/children").split()
    return [pid] + [p for k in kids for p in family(int(k))]
def measure_pids(pids):
    return {int(pid): one(int(pid)) for pid in pids}
def one(pid):
    shim = ppid(pid)
    shim_fds = {}
    try:
        for fd in os.listdir(f"/proc/{shim}/fd"):
            shim_fds.setdefault(os.readlink(f"/proc/{shim}/fd/{fd}"), fd)
    except OSError:
        pass
    streams = {}
    for name, num in (("stdout", 1), ("stderr", 2)):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{num}")
        except OSError:
            continue
        chain = [{"what": link, **gauge(f"/proc/{pid}/fd/{num}")}]
        # dockerd's FIFO: .../init-stdout (Docker 20.10), .../<id>-stdout (26.1, 28.5)
        fifo = next((t for t in shim_fds if t.startswith("/") and t.endswith("-" + name)), None)
        if link.startswith("pipe:") and link in shim_fds and fifo:
            chain.append({"what": fifo, **gauge(f"/proc/{shim}/fd/{shim_fds[fifo]}")})
        streams[name] = chain
    return {
        "procs": {p: {"wchan": read(f"/proc/{p}/wchan"), "writing": writing(p)} for p in family(pid)},
        "shim": read(f"/proc/{shim}/comm"),
        "streams": streams,
    }
"""
#: the node parses stat as the harness does
GAUGE_DEFS = STAT_FIELDS_SOURCE + GAUGE
#: what runs on a node: ``python3 -c GAUGE PID...`` prints the JSON of ``measure_pids``
GAUGE = GAUGE_DEFS + "print(json.dumps(measure_pids(sys.argv[1:])))\n"


@dataclass(frozen=True)
class Stream:
    """One stream's chain (container pipe, then the shim's FIFO): capacity and what is queued."""

    capacity: int
    queued: int
    hops: list[str]


@dataclass(frozen=True)
class Proc:
    """A process of the container: its wait channel, and the pipe it is blocked writing into."""

    wchan: str
    writing: str = ""


@dataclass(frozen=True)
class Gauge:
    """One container's stdout/stderr chains and its processes."""

    pid: int
    streams: dict[str, Stream] = field(default_factory=dict)
    procs: dict[int, Proc] = field(default_factory=dict)

    def blocked_on(self, stream: str) -> list[int]:
        """Processes waiting in a write into this stream's pipe: the chain is full behind it."""
        chain = self.streams.get(stream)
        if chain is None:
            return []
        return sorted(
            pid
            for pid, p in self.procs.items()
            if p.wchan in PIPE_WRITE_WCHANS and p.writing == chain.hops[0]
        )


def parse(text: str) -> dict[int, Gauge]:
    """The gauge's JSON -> one ``Gauge`` per container PID; hops that failed are left out."""
    gauges: dict[int, Gauge] = {}
    for pid, entry in json.loads(text).items():
        streams = {}
        for name, chain in entry.get("streams", {}).items():
            hops = [h for h in chain if "capacity" in h]
            if hops and len(hops) == len(chain):
                streams[name] = Stream(
                    capacity=sum(h["capacity"] for h in hops),
                    queued=sum(h["queued"] for h in hops),
                    hops=[h["what"] for h in hops],
                )
        procs = {int(p): Proc(**info) for p, info in entry.get("procs", {}).items()}
        gauges[int(pid)] = Gauge(int(pid), streams, procs)
    return gauges


@functools.cache
def _local_gauge() -> Callable[[list[int]], dict[int, object]]:
    """``measure_pids`` of the gauge's own source, compiled once in this process: a node whose
    /proc is this machine's reads the same files the same way, and a python3 per sample (20 in a
    5 s outage, ~0.1 CPU-s each behind a pyenv shim) is the largest part of a cell's CPU."""
    namespace: dict[str, Any] = {}
    exec(compile(GAUGE_DEFS, "<lrmatrix stdout gauge>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace["measure_pids"]


def measure(node: Node, pids: list[int], timeout: float = 10.0) -> dict[int, Gauge]:
    """Run the gauge on the node for these container PIDs; ``{}`` when it cannot run there
    (no python3 on the node), so callers report "not measured" rather than a guess."""
    if not pids:
        return {}
    if node.procfs_here:  # the same source, without a python3 started per sample
        text = json.dumps(_local_gauge()(pids))
    else:
        res = node.run(["python3", "-c", GAUGE, *map(str, pids)], timeout=timeout)
        if not res.ok:
            return {}
        text = res.stdout
    try:
        return parse(text)
    except (ValueError, KeyError, TypeError):
        return {}
