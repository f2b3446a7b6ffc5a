"""A package upgrade as a cell's disruption: the node's own upgrade commands, what they did to
dockerd and containerd, and what the service manager says it did to their units.

The harness stops and starts nothing here: the commands do (a package manager's maintainer
scripts, the user's own ``systemctl restart``). So the disruption's times are what was seen:
it begins with the first command; the daemon counts as gone from the first sample without the
dockerd that ran before, and as started from the first sample with a new one. A dockerd that
was never seen gone was not restarted, and nothing about the new engine was tested: the
verdict says so (``verdict.decide``) and the after checks find the old version answering.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.drivers.base import UnitMessage
from lrmatrix.errors import KeepNode, LrmatrixError, NodeError
from lrmatrix.evidence.watchers import DAEMON_CHECK_PERIOD_S, ProcessTimeline
from lrmatrix.matrix import engines
from lrmatrix.matrix.cells import STAGED_DEBS
from lrmatrix.run.actions.docker import Action, until

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.runner import Scenario

#: the units whose stops and starts are recorded (systemd nodes)
UNITS = ("docker.service", "docker.socket", "containerd.service")
#: how often a running upgrade command's exit code is looked for
UPGRADE_POLL_S = 0.25
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
class Upgrade:
    """Everything seen while the upgrade commands ran."""

    timeline: ProcessTimeline
    steps: list[Step] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)

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

    def started_at(self) -> float | None:
        """The first sample with a dockerd that did not run before."""
        before = self.before
        return self.timeline.first("dockerd", lambda pids: bool(set(pids) - before))

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
        gone, started = self.gone_at(), self.started_at()
        if gone is None:
            pids = ", ".join(map(str, sorted(self.before))) or "none"
            notes.append(f"the upgrade did not restart dockerd (pid {pids} ran throughout)")
        replaced = len(self.timeline.lives("dockerd")) - 1
        if replaced > 1:
            notes.append(
                f"dockerd was replaced {replaced} times; 'while down' ends at the first new one, and the "
                "later restarts count as failures after dockerd started"
            )
        if gone is not None and started is not None:
            last = max(ts for ts, _ in self.timeline.samples if ts < gone)
            notes.append(
                f"dockerd replaced by the upgrade: the old one last seen at +{last - t0:.2f}s, "
                f"the new one first seen at +{started - t0:.2f}s"
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


def launch(node: Node, step: Step) -> None:
    """Start the command on the node detached from the SSH channel (its own session, output
    and exit code to files in ``step.folder``): a run interrupted mid-upgrade never kills a
    package manager half-way, which would leave the node's packages broken."""
    folder = shlex.quote(step.folder)
    out, rc, pid = (shlex.quote(f"{step.folder}/{name}") for name in ("output", "rc", "pid"))
    script = f"echo $$ > {pid}; sh -c {shlex.quote(step.command)}; echo $? > {rc}.tmp && mv {rc}.tmp {rc}"
    detached = f"cd / && {{ setsid sh -c {shlex.quote(script)} > {out} 2>&1 < /dev/null & }}"
    record = f"printf %s {shlex.quote(step.command)} > {folder}/command"
    # only the command goes to the background: a folder that cannot be made fails here
    res = node.run(["sh", "-c", f"mkdir -p {folder} && {record} || exit 1; {detached}"], timeout=30)
    if not res.ok or not poll(lambda: node.read_file(f"{step.folder}/pid") is not None, 10, 0.05):
        raise NodeError(f"cannot start the upgrade command on {node.name}: {res.one_line() or 'no pid file'}")


#: one line per upgrade command of a run that has not ended: its folder, and its command
STILL_RUNNING = (
    'for d in "$1"/upgrade/*/; do [ -e "$d/rc" ] && continue; p=$(cat "$d/pid" 2>/dev/null) || continue; '
    '[ -d "/proc/$p" ] && printf "%s\\t%s\\n" "$d" "$(cat "$d/command")"; done; true'
)


def still_running(node: Node, work_dir: str) -> list[str]:
    """The upgrade commands a run started under ``work_dir`` that still run on the node (its
    harness died or was killed): ``recover`` must not restore the node around them."""
    res = node.run(["sh", "-c", STILL_RUNNING, "sh", work_dir], timeout=30)
    return [line.partition("\t")[2] for line in res.stdout.splitlines() if "\t" in line]


def finished(node: Node, step: Step, timeout: float) -> bool:
    """Wait (bounded) for a launched command's exit code; then its output and end are on ``step``."""

    def ended() -> bool:
        raw = node.read_file(f"{step.folder}/rc")
        return raw is not None and raw.strip().lstrip(b"-").isdigit()

    if not poll(ended, max(timeout, 0.0), UPGRADE_POLL_S):
        return False
    step.ended = time.monotonic()
    step.rc = int(node.read_file(f"{step.folder}/rc") or b"-1")
    step.output = (node.read_file(f"{step.folder}/output") or b"").decode(errors="replace")
    return True


@dataclass(frozen=True)
class AwaitUpgradeEnd(Action):
    """In the teardown of a run that stopped while an upgrade command ran (Ctrl-C, an error):
    the command is let finish, within its bound, before the node is restored around it."""

    name: ClassVar[str] = "await_upgrade"
    waits: ClassVar[bool] = True

    def run(self, s: Scenario) -> None:
        running = [step for step in (s.upgrade.steps if s.upgrade else []) if step.rc is None]
        for step in running:
            left = step.deadline - s.now()
            print(
                f"lrmatrix: `{step.command[:60]}` still runs on {s.node.name}; waiting up to {left:.0f} s "
                "for it before restoring the node (a package manager stopped half-way breaks it)",
                file=sys.stderr,
            )
            done = finished(s.node, step, left)
            s.event("upgrade command ended" if done else "upgrade command still running", step.command[:80])
            s.logs["upgrade.log"] = s.upgrade.log() if s.upgrade else b""
            if not done:
                raise KeepNode(
                    f"`{step.command[:80]}` still runs on {s.node.name}: the node is left as it is; "
                    "`lrmatrix recover --node …` restores it once the command has ended"
                )

    def describe(self, cell: Cell) -> str:
        return until(
            "an upgrade command still running has ended (never killed)", cell.timings.upgrade_timeout_s
        )


def staged_dir(node: Node) -> str:
    return str(PurePosixPath(node.work_dir) / "debs")


@dataclass(frozen=True)
class StageDebs(Action):
    """The packages of ``engine_after`` (its pins, fetched with the engines' private apt
    configuration) copied to the node, for upgrade commands that name ``{debs}``: a node with
    no route to a mirror upgrades from them. In the node's work folder, removed at teardown."""

    name: ClassVar[str] = "stage"

    def run(self, s: Scenario) -> None:
        engine = s.cell.engine_after
        assert engine is not None
        folder = staged_dir(s.node)
        s.node.run(["mkdir", "-p", folder])
        debs = engines.debs(engine)
        for deb in debs:
            s.node.upload(deb, f"{folder}/{deb.name}")
        s.staged = [deb.name for deb in debs]
        s.event("packages staged", f"{len(debs)} .debs of engine {engine.name} in {folder}")

    def describe(self, cell: Cell) -> str:
        engine = cell.engine_after
        assert engine is not None
        return (
            f"stage the .debs of engine {engine.name} (Docker {engine.version}) on the node for {STAGED_DEBS}"
        )


@dataclass(frozen=True)
class PackageUpgrade(Action):
    """The cell's upgrade commands on the node, one after another, while the probe runs and
    dockerd and containerd are sampled; then the API must answer, and what answers is recorded."""

    name: ClassVar[str] = "upgrade"
    waits: ClassVar[bool] = True
    commands: tuple[str, ...]

    def run(self, s: Scenario) -> None:
        node, timings = s.node, s.cell.timings
        folder = staged_dir(node)
        s.before_pid = node.daemon_pid()
        timeline = ProcessTimeline(node, limit_s=timings.upgrade_timeout_s + 60)
        s.upgrade = Upgrade(timeline, staged=s.staged)
        timeline.step()  # the processes as the first command starts
        timeline.start()
        deadline = s.now() + timings.upgrade_timeout_s
        s.stop_at = s.now()
        s.event("upgrade starting", f"{len(self.commands)} command(s)")
        try:
            for command in self.commands:
                self._step(s, command.replace(STAGED_DEBS, shlex.quote(folder)), deadline)
        finally:
            timeline.stop()
            try:
                timeline.step()  # and as the last one ended
            except LrmatrixError as exc:  # the run's own error (or Ctrl-C) stays the one raised
                timeline.failures.append(f"{type(exc).__name__}: {exc}")
            s.logs["upgrade.log"] = s.upgrade.log()
        s.stopped_at = s.upgrade.gone_at()
        s.start_at = s.upgrade.started_at() or s.upgrade.steps[-1].ended
        for at, what in ((s.stopped_at, "daemon gone"), (s.upgrade.started_at(), "daemon started")):
            if at is not None:
                s.event_at(at, what, "seen by the process timeline")
        if not s.upgrade.running_after():
            raise NodeError(f"the upgrade left no dockerd running on {node.name}; teardown starts it again")
        node.dockerd.wait_api(timings.recover_timeout_s)
        s.api_at = s.now()
        s.versions_after = node.versions()
        s.event(
            "upgrade done",
            f"dockerd {s.versions.get('docker', '?')} -> {s.versions_after.get('docker', '?')}",
        )

    def _step(self, s: Scenario, command: str, deadline: float) -> None:
        assert s.upgrade is not None
        mark = s.node.service_mark()
        folder = f"{s.node.work_dir}/upgrade/{len(s.upgrade.steps) + 1}"
        step = Step(command, s.now(), folder=folder, deadline=deadline, journal=bool(mark))
        s.upgrade.steps.append(step)
        launch(s.node, step)
        finished(s.node, step, deadline - s.now())
        step.units = s.node.unit_messages(mark, UNITS)
        if step.rc is None:
            raise NodeError(
                f"the upgrade command `{command[:80]}` still runs on {s.node.name} after "
                f"{s.cell.timings.upgrade_timeout_s:g} s (upgrade_timeout_s)"
            )
        if step.rc != 0:
            last = step.output.strip().splitlines()[-1:] or ["no output"]
            raise NodeError(
                f"the upgrade command `{command[:80]}` failed on {s.node.name}: exit {step.rc}: {last[0]}"
            )

    def describe(self, cell: Cell) -> str:
        steps = "; then ".join(f"`{c}`" for c in self.commands)
        t = cell.timings
        return (
            f"run {steps} on the node, up to {t.upgrade_timeout_s:g} s, sampling dockerd and containerd "
            f"every {DAEMON_CHECK_PERIOD_S:g} s; then {until('its API answers', t.recover_timeout_s)}"
        )
