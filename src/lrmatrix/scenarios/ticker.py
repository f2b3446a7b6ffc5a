"""A container that writes one numbered line with the kernel's uptime every 0.2 s, and docker
clients left running on the node itself: what the client-streams and log-drivers scenarios
watch across the daemon's restart.

The clients run on the node (``setsid`` in the background, output in files there), not in the
harness, so they go through the node's own socket the way a user's would, on any transport;
each writes its exit status to ``<name>.rc`` when it ends, so a hang is an absent file.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Deployed, Record
from lrmatrix.run.context import Context
from lrmatrix.workload.containers import LABEL

#: "tick <n> <uptime s> <idle s>" every 0.2 s; SIGTERM ends it at once (``docker stop`` is
#: then quick unless the daemon hangs): busybox sh, ``cat`` of /proc/uptime (the image has both)
SCRIPT = (
    'trap "exit 0" TERM; i=0; while :; do echo "tick $i $(cat /proc/uptime)"; i=$((i+1)); sleep 0.2; done'
)
TICK = re.compile(r"^tick (\d+) (\d+\.\d+)")
#: seconds the ticker must have written its first lines in
START_S = 10.0


@dataclass(frozen=True)
class Tick:
    n: int
    uptime: float


def ticks(text: str) -> list[Tick]:
    """The ticker's lines of ``text`` (``docker logs`` output, or a client's), in order."""
    found = (TICK.match(line.strip()) for line in text.splitlines())
    return [Tick(int(m.group(1)), float(m.group(2))) for m in found if m]


def gaps(seen: list[Tick]) -> list[tuple[int, int]]:
    """Where the numbering jumps: (last before, first after); a log that lost lines has one."""
    return [(a.n, b.n) for a, b in itertools.pairwise(seen) if b.n != a.n + 1]


def start(ctx: Context, name: str, *run_args: str) -> str:
    """Run the ticker as ``name`` (labelled as the cell's, so the teardown removes it) from the
    workload's image; its ID once it has written a line."""
    image = ctx.evidence.require(Deployed).workload.image
    node = ctx.node
    node.dockerd.cli("rm", "-f", name)  # a leftover of an interrupted run on this node
    cid = node.dockerd.cli_ok(
        "run",
        "-d",
        "--name",
        name,
        "--label",
        f"{LABEL}={ctx.cell.name}",
        *run_args,
        image,
        "sh",
        "-c",
        SCRIPT,
    ).strip()
    if not poll(lambda: ticks(node.dockerd.cli("logs", name).stdout), START_S, 0.2):
        raise NodeError(f"the ticker {name} wrote nothing within {START_S:g} s")
    return cid


def uptime(ctx: Context) -> float:
    """The node kernel's uptime: the clock the ticker's lines carry."""
    raw = ctx.node.read_file("/proc/uptime")
    if raw is None:
        raise NodeError("the node has no /proc/uptime")
    return float(raw.split()[0])


@dataclass(frozen=True)
class NodeTime(Record):
    """The node's uptime at a named moment of the run (``down``: just after the stop)."""

    label: str
    uptime: float


class NodeClients:
    """docker clients running in the background on the node, each in ``folder/<name>.*``; the
    runner stops what is left at teardown (``kill``), so none outlives the run."""

    def __init__(self, ctx: Context, folder: str, clients: dict[str, list[str]]) -> None:
        self.node = ctx.node
        self.folder = folder
        self.names = tuple(clients)
        self.node.run(["mkdir", "-p", folder])
        # an earlier run's status files would read as clients that already ended
        self.node.run(["rm", "-f", *(f"{folder}/{n}.{k}" for n in self.names for k in ("out", "err", "rc"))])
        self.pids: dict[str, str] = {}
        for name, argv in clients.items():
            base = shlex.quote(f"{folder}/{name}")
            inner = f"docker {shlex.join(argv)} >{base}.out 2>{base}.err; echo $? >{base}.rc"
            line = f"setsid sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 & echo $!"
            res = self.node.transport.shell(line, 15.0)
            if not res.ok or not res.stdout.strip().isdigit():
                raise NodeError(f"the client {name} did not start on the node: {res.one_line()}")
            self.pids[name] = res.stdout.strip()

    def ended(self) -> dict[str, str | None]:
        """Each client's exit status, ``None`` while it runs."""
        files = self.node.read_files([f"{self.folder}/{n}.rc" for n in self.names])
        return {n: (files[f"{self.folder}/{n}.rc"] or b"").decode().strip() or None for n in self.names}

    def output(self, name: str) -> tuple[str, str]:
        """(stdout, stderr) of one client so far."""
        files = self.node.read_files([f"{self.folder}/{name}.out", f"{self.folder}/{name}.err"])
        return tuple(
            (files[f"{self.folder}/{name}.{k}"] or b"").decode(errors="replace") for k in ("out", "err")
        )  # type: ignore[return-value]

    def stop(self) -> Iterable[Record]:
        """Kill the clients still running (their ``sh`` and its ``docker``: the session)."""
        running = [pid for name, pid in self.pids.items() if self.ended()[name] is None]
        if running:
            self.node.run(["kill", "--", *(f"-{pid}" for pid in running)], timeout=15)
        return []
