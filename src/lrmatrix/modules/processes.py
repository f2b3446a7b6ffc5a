"""The node's processes as /proc shows them: who a pid is (with its start time, so a reused
pid is not mistaken for it), a container's process tree, and the processes with a given name.

Files are read through the node's ``read_files`` (one round trip for many over ssh), and every
stat line is parsed by ``procfs``.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass

from lrmatrix.errors import NodeError
from lrmatrix.modules.base import Module
from lrmatrix.modules.procfs import parse_stat, parse_stats

#: the last line of a process scan that ran to its end
SCANNED = "lrm-scan-done"
#: a process's start as the node's kernel keeps it, and the clock to read it by: the uptime
#: (the same boot clock as a stat line's start time) and the stat line, read by the shell's
#: own ``read`` first thing (no command started before them), then the clock tick
START_READ = (
    'read -r up _ < /proc/uptime && read -r stat < "/proc/$1/stat" && echo "$up" && echo "$stat"; '
    "getconf CLK_TCK"
)
#: /proc/uptime's resolution: the uptime read may be this much short of the truth
UPTIME_RESOLUTION_S = 0.01
#: reads of a process's start: each is late by its own round trip, the quickest one counts
START_READS = 3


@dataclass(frozen=True)
class ProcInfo:
    """A process identity that survives nothing but the process itself: pid + start time."""

    pid: int
    ppid: int
    start_ticks: int
    cmdline: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)


class Processes(Module):
    """/proc of one node."""

    def proc(self, pid: int) -> ProcInfo | None:
        """Identity of a process on the node, ``None`` if it does not exist (or is a zombie)."""
        return self.procs([pid])[pid]

    def procs(self, pids: Iterable[int]) -> dict[int, ProcInfo | None]:
        """``proc`` of many processes, their files read in one go (``read_files``)."""
        pids = list(dict.fromkeys(pids))
        files = self.node.read_files([f"/proc/{pid}/{name}" for pid in pids for name in ("stat", "cmdline")])
        found: dict[int, ProcInfo | None] = {}
        for pid in pids:
            raw, cmd = files[f"/proc/{pid}/stat"], files[f"/proc/{pid}/cmdline"]
            stat = parse_stat(raw.decode(errors="replace")) if raw is not None else None
            if stat is None or stat.zombie or cmd is None:
                found[pid] = None
                continue
            cmdline = cmd.replace(b"\0", b" ").decode(errors="replace").strip()
            found[pid] = ProcInfo(pid, stat.ppid, stat.start_ticks, cmdline)
        return found

    def trees(self, pids: list[int]) -> dict[int, list[ProcInfo]]:
        """For each container's main process: its parent (the shim), itself and its live direct
        children (nginx workers), ``[]`` when it is gone. Three reads whatever the count, so a
        node reached over ssh pays three round trips, not a few per process."""
        mains = {pid: info for pid, info in self.procs(pids).items() if info is not None}
        table = parse_stats(self.run(["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"]).stdout)
        kids = {st.pid: st.ppid for st in table if st.ppid in mains and not st.zombie}
        more = self.procs([m.ppid for m in mains.values()] + list(kids))
        trees: dict[int, list[ProcInfo]] = {pid: [] for pid in pids}
        for pid, main in mains.items():
            shim = more.get(main.ppid)
            children = [info for kid, info in more.items() if kids.get(kid) == pid and info is not None]
            trees[pid] = [p for p in (shim, main) if p] + children
        return trees

    def named(self, name: str) -> list[int]:
        """PIDs of this node's processes whose command name is ``name`` (dockerd, docker-proxy).
        On a node of its own every such process is the node's."""
        return self.by_names((name,))[name]

    def by_names(self, names: tuple[str, ...]) -> dict[str, list[int]]:
        """``named`` of several names in one command."""
        pattern = " ".join(f"-e {shlex.quote(n)}" for n in names)
        # grep's own status says nothing (a process may go between the glob and the read): the
        # sentinel says the scan ran to its end, so a cut-off answer is never "none running"
        script = f"grep -Hx {pattern} /proc/[0-9]*/comm 2>/dev/null; echo {SCANNED}"
        res = self.run(["sh", "-c", script], timeout=10)
        if SCANNED not in res.stdout.split():
            raise NodeError(f"the process scan on {self.node.name} did not finish: {res.one_line()}")
        found: dict[str, list[int]] = {n: [] for n in names}
        for line in res.stdout.split():  # /proc/<pid>/comm:<name>
            path, _, name = line.partition(":")
            if name in found and path.count("/") == 3:
                found[name].append(int(path.split("/")[2]))
        return {n: sorted(pids) for n, pids in found.items()}

    def started(self, pid: int, name: str) -> float | None:
        """When process ``pid`` (named ``name``) started, on this harness's monotonic clock: the
        earliest time its /proc start and the node's uptime read with it allow. Each read comes
        after its ``sent`` (by up to a round trip) and both figures are rounded down, so every
        read's answer is never later than the truth; the latest of ``START_READS`` is the
        closest. ``None``: gone, or the pid is another process now."""
        bounds = [self._start_bound(pid, name) for _ in range(START_READS)]
        return None if None in bounds else max(b for b in bounds if b is not None)

    def _start_bound(self, pid: int, name: str) -> float | None:
        sent = time.monotonic()
        res = self.run(["sh", "-c", START_READ, "sh", str(pid)], timeout=10)
        lines = res.stdout.splitlines()
        if not res.ok or len(lines) != 3 or not lines[2].strip().isdigit():
            return None
        stat, hz = parse_stat(lines[1]), int(lines[2])
        if stat is None or stat.zombie or stat.comm != name or stat.pid != pid or hz <= 0:
            return None
        try:
            uptime = float(lines[0])
        except ValueError:
            return None
        return sent - (uptime - stat.start_ticks / hz) - UPTIME_RESOLUTION_S
