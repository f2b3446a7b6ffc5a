"""What a package upgrade did, as evidence: each command as it ran, the dockerd and containerd
processes sampled throughout, the service manager's words about their units, in sentences.

The harness stops and starts nothing in a package-upgrade cell: the commands do (a package
manager's maintainer scripts, the user's own ``systemctl restart``). So the disruption's times
are what was seen: it begins with the first command; the daemon counts as gone from the first
sample without the dockerd that ran before, and as started when the new one started (its /proc
start time, never before the last sample that saw no new one). Not when a sample first sees it:
that is up to a sampling period and a round trip late, and the new daemon's NAT rebuild (the
restart blip every cell has) would then count as failures while down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lrmatrix.evidence.records import Record
from lrmatrix.evidence.restart import new_start
from lrmatrix.evidence.watchers import ProcessTimeline
from lrmatrix.modules.dockerd import CONTAINERD_SERVICE, DOCKER_SERVICE, DOCKER_SOCKET

if TYPE_CHECKING:
    from lrmatrix.drivers.base import UnitMessage

#: the units whose stops and starts are recorded (systemd nodes)
UNITS = (DOCKER_SERVICE, DOCKER_SOCKET, CONTAINERD_SERVICE)
#: how much of a command's output the result keeps (all of it goes to <cell>.upgrade.log)
OUTPUT_TAIL = 2000
#: what systemd's messages about a unit say happened to it, in the words a finding uses
VERBS = {
    "Stopped ": "stopped",
    "Started ": "started",
    "Reloaded ": "reloaded",
    "Scheduled restart job": "restarted",
}


@dataclass
class Step:
    """One upgrade command as it ran (monotonic times), and the unit messages it caused."""

    command: str
    started: float
    ended: float = 0.0
    rc: int | None = None  # None: still running, or never seen to end
    output: str = ""
    units: list[UnitMessage] = field(default_factory=list)
    #: where on the node it writes its output and exit code (``launch``)
    folder: str = ""
    deadline: float = 0.0
    journal: bool = True  # whether the service manager's log was read for it (systemd)


@dataclass
class UpgradeRun:
    """Everything seen while the upgrade commands ran (filled in as they run)."""

    timeline: ProcessTimeline
    steps: list[Step] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    #: per new dockerd pid, its start from /proc on the harness clock (``Processes.started``)
    proc_started: dict[int, float] = field(default_factory=dict)

    @property
    def before(self) -> set[int]:
        """The dockerd that ran when the first command started."""
        return set(self.timeline.samples[0][1]["dockerd"]) if self.timeline.samples else set()

    def gone_at(self) -> float | None:
        """The first sample without the dockerd that ran before, and none of it after; None:
        never seen gone (a sample that missed it once while it ran on is not its end)."""
        before = self.before
        if not before:
            return None
        last_seen = max(t for t, found in self.timeline.samples if before & set(found["dockerd"]))
        return next((t for t, _ in self.timeline.samples if t > last_seen), None)

    def first_seen_at(self) -> float | None:
        """The first sample with a dockerd that did not run before."""
        return self._first_new()[0]

    def new_dockerds(self) -> list[int]:
        """The dockerd pids that the first sample with a new one saw (whose start is read)."""
        return self._first_new()[1]

    def started_at(self) -> float | None:
        """When the new dockerd started, the end of "while down": its /proc start time, but
        never before the last sample without it (that scan saw none); that sample without one."""
        return self._start()[0]

    def _first_new(self) -> tuple[float | None, list[int]]:
        before = self.before
        for t, found in self.timeline.samples:
            new = sorted(set(found["dockerd"]) - before)
            if new:
                return t, new
        return None, []

    def _start(self) -> tuple[float | None, str]:
        """``started_at`` and what it rests on, in words for the findings."""
        first, new = self._first_new()
        if first is None:
            return None, ""
        last_without = max((t for t, _ in self.timeline.samples if t < first), default=first)
        return new_start(last_without, (self.proc_started[pid] for pid in new if pid in self.proc_started))

    def running_after(self) -> list[int]:
        return self.timeline.samples[-1][1]["dockerd"] if self.timeline.samples else []

    def log(self) -> bytes:
        """Every command with all its output, as a terminal would have shown it."""
        return "".join(f"$ {s.command}\n{s.output}\n[exit {s.rc}]\n" for s in self.steps).encode()

    def as_dict(self, t0: float, wall0: float) -> dict[str, Any]:
        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - t0, 3)

        return {
            "staged": self.staged,
            "steps": [
                {
                    "command": s.command,
                    "started_at": rel(s.started),
                    "seconds": round(s.ended - s.started, 3),
                    "rc": s.rc,
                    "output_tail": s.output[-OUTPUT_TAIL:],
                    "units": [[round(m.wall - wall0, 3), m.message] for m in s.units],
                }
                for s in self.steps
            ],
            "dockerd_gone_at": rel(self.gone_at()),
            "dockerd_started_at": rel(self.started_at()),
            "dockerd_first_seen_at": rel(self.first_seen_at()),
            "dockerd_proc_starts": [[pid, rel(t)] for pid, t in sorted(self.proc_started.items())],
            "timeline": self.timeline.as_dict(t0),
        }

    def findings(self, t0: float, wall0: float) -> list[str]:
        """What each command did, then what the daemon went through, in sentences."""
        # a step's end is seen when its exit code is read, up to a poll later: what it left is
        # the last sample before the next step began
        nexts = [s.started for s in self.steps[1:]] + [None]
        notes = [
            self._step_note(i, s, nxt, wall0)
            for i, (s, nxt) in enumerate(zip(self.steps, nexts, strict=True), 1)
        ]
        gone, (started, how), first = self.gone_at(), self._start(), self.first_seen_at()
        if gone is None:
            pids = ", ".join(map(str, sorted(self.before))) or "none"
            notes.append(f"the upgrade did not restart dockerd (pid {pids} ran throughout)")
        replaced = len(self.timeline.lives("dockerd")) - 1
        if replaced > 1:
            notes.append(
                f"dockerd was replaced {replaced} times; 'while down' ends at the first new one, and the "
                "later restarts count as failures after dockerd started"
            )
        if gone is not None and started is not None and first is not None:
            last = max(ts for ts, _ in self.timeline.samples if ts < gone)
            notes.append(
                f"dockerd replaced by the upgrade: the old one last seen at +{last - t0:.2f}s, "
                f"the new one started at +{started - t0:.2f}s ({how}), first seen at +{first - t0:.2f}s"
            )
        return notes

    def _step_note(self, i: int, s: Step, next_started: float | None, wall0: float) -> str:
        """``upgrade step 1 `apt-get install …` (12.3 s, exit 0): containerd.service stopped and
        started (+3.10..+3.42 s); dockerd 812 kept, containerd 640 -> 1207``."""
        command = s.command if len(s.command) <= 60 else s.command[:57] + "..."
        units = (
            _unit_summary(s.units, wall0) or "no docker or containerd unit was stopped or started"
            if s.journal
            else "the service manager's log is not read on this node"
        )
        around = self.timeline.around(s.started, s.ended, until=next_started)
        procs = _process_changes(*around) if around else "no process was sampled"
        return f"upgrade step {i} `{command}` ({s.ended - s.started:.1f} s, exit {s.rc}): {units}; {procs}"


@dataclass(frozen=True)
class Upgraded(Record):
    """The package upgrade of a cell: its commands and what they did (the run's handle on
    them, recorded before the first command starts so a teardown finds one still running)."""

    run: UpgradeRun


@dataclass(frozen=True)
class Staged(Record):
    """The .debs staged on the node for ``{debs}``."""

    debs: tuple[str, ...]


def _unit_summary(messages: list[UnitMessage], wall0: float) -> str:
    parts = []
    for unit in UNITS:
        mine = [m for m in messages if unit in m.message]
        verbs = list(dict.fromkeys(v for m in mine for word, v in VERBS.items() if word in m.message))
        if verbs:
            span = f"+{mine[0].wall - wall0:.2f}..+{mine[-1].wall - wall0:.2f}s"
            parts.append(f"{unit} {' and '.join(verbs)} ({span})")
    return ", ".join(parts)


def _process_changes(first: dict[str, list[int]], last: dict[str, list[int]]) -> str:
    parts = []
    for name in first:
        was, now = first[name], last[name]
        if was == now:
            parts.append(f"{name} {','.join(map(str, was)) or 'not running'} kept")
        else:
            parts.append(f"{name} {','.join(map(str, was)) or 'none'} -> {','.join(map(str, now)) or 'none'}")
    return ", ".join(parts)
