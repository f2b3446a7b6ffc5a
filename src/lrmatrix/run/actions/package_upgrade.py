"""A package upgrade as a cell's disruption: the node's own upgrade commands, what they did to
dockerd and containerd, and what the service manager says it did to their units.

The harness stops and starts nothing here: the commands do (a package manager's maintainer
scripts, the user's own ``systemctl restart``). So the disruption's times are what was seen:
it begins with the first command; the daemon counts as gone from the first sample without the
dockerd that ran before, and as started when the new one started, read from its /proc after
the commands (``UpgradeRun.started_at``). A dockerd that
was never seen gone was not restarted, and nothing about the new engine was tested: the
verdict says so (``verdict.decide``) and the after checks find the old version answering.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import KeepNode, LrmatrixError, NodeError
from lrmatrix.evidence.records import NodeFacts, Record, SavedLog, Started, Stopped, WindowEnded
from lrmatrix.evidence.restart import read_starts
from lrmatrix.evidence.upgrade import UNITS, Staged, Step, Upgraded, UpgradeRun
from lrmatrix.evidence.watchers import DAEMON_CHECK_PERIOD_S, ProcessTimeline
from lrmatrix.matrix import engines
from lrmatrix.matrix.cells import STAGED_DEBS
from lrmatrix.run.actions.base import Action, until

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: how often a running upgrade command's exit code is looked for
UPGRADE_POLL_S = 0.25


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

    def run(self, ctx: Context) -> list[Record]:
        upgraded = ctx.evidence.last(Upgraded)
        running = [step for step in (upgraded.run.steps if upgraded else []) if step.rc is None]
        records: list[Record] = []
        for step in running:
            assert upgraded is not None
            left = step.deadline - ctx.clock.now()
            print(
                f"lrmatrix: `{step.command[:60]}` still runs on {ctx.node.name}; waiting up to {left:.0f} s "
                "for it before restoring the node (a package manager stopped half-way breaks it)",
                file=sys.stderr,
            )
            done = finished(ctx.node, step, left)
            ctx.evidence.add(
                ctx.event(
                    "upgrade command ended" if done else "upgrade command still running", step.command[:80]
                ),
                SavedLog("upgrade.log", upgraded.run.log()),
            )
            if not done:
                raise KeepNode(
                    f"`{step.command[:80]}` still runs on {ctx.node.name}: the node is left as it is; "
                    "`lrmatrix recover --node …` restores it once the command has ended"
                )
        return records

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

    def run(self, ctx: Context) -> list[Record]:
        engine = ctx.cell.engine_after
        assert engine is not None
        folder = staged_dir(ctx.node)
        ctx.node.run(["mkdir", "-p", folder])
        debs = engines.debs(engine)
        for deb in debs:
            ctx.node.upload(deb, f"{folder}/{deb.name}")
        return [
            Staged(tuple(deb.name for deb in debs)),
            ctx.event("packages staged", f"{len(debs)} .debs of engine {engine.name} in {folder}"),
        ]

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

    def run(self, ctx: Context) -> list[Record]:
        node, timings, clock = ctx.node, ctx.cell.timings, ctx.clock
        folder = staged_dir(node)
        before_pid = node.daemon_pid()
        timeline = ProcessTimeline(node, limit_s=timings.upgrade_timeout_s + 60)
        staged = ctx.evidence.last(Staged)
        upgrade = UpgradeRun(timeline, staged=list(staged.debs) if staged else [])
        timeline.step()  # the processes as the first command starts
        timeline.start()
        deadline = clock.now() + timings.upgrade_timeout_s
        stop_at = clock.now()
        ctx.evidence.add(
            Upgraded(upgrade),
            Stopped(stop_at, None, before_pid, "package upgrade"),
            ctx.event("upgrade starting", f"{len(self.commands)} command(s)"),
        )
        try:
            for command in self.commands:
                self._step(ctx, upgrade, command.replace(STAGED_DEBS, shlex.quote(folder)), deadline)
        finally:
            timeline.stop()
            try:
                timeline.step()  # and as the last one ended
            except LrmatrixError as exc:  # the run's own error (or Ctrl-C) stays the one raised
                timeline.failures.append(f"{type(exc).__name__}: {exc}")
            ctx.evidence.add(SavedLog("upgrade.log", upgrade.log()))
        starts, errors = read_starts(node, upgrade.new_dockerds())
        upgrade.proc_started.update(starts)
        upgrade.timeline.failures.extend(errors)
        gone_at, started_at, seen_at = upgrade.gone_at(), upgrade.started_at(), upgrade.first_seen_at()
        ctx.evidence.add(
            Stopped(stop_at, gone_at, before_pid, "package upgrade"),
            WindowEnded(started_at or upgrade.steps[-1].ended),
            *(
                ctx.event(what, how, at=at)
                for at, what, how in (
                    (gone_at, "daemon gone", "seen by the process timeline"),
                    (started_at, "daemon started", "the new dockerd's start (the end of 'while down')"),
                    (seen_at, "daemon seen started", "seen by the process timeline"),
                )
                if at is not None
            ),
        )
        if not upgrade.running_after():
            raise NodeError(f"the upgrade left no dockerd running on {node.name}; teardown starts it again")
        node.dockerd.wait_api(timings.recover_timeout_s)
        after = node.versions()
        facts = ctx.evidence.last(NodeFacts)
        was = facts.versions.get("docker", "?") if facts else "?"
        return [
            Started(clock.now(), after),
            ctx.event("upgrade done", f"dockerd {was} -> {after.get('docker', '?')}"),
        ]

    def _step(self, ctx: Context, upgrade: UpgradeRun, command: str, deadline: float) -> None:
        node = ctx.node
        mark = node.service_mark()
        folder = f"{node.work_dir}/upgrade/{len(upgrade.steps) + 1}"
        step = Step(command, ctx.clock.now(), folder=folder, deadline=deadline, journal=bool(mark))
        upgrade.steps.append(step)
        launch(node, step)
        finished(node, step, deadline - ctx.clock.now())
        step.units = node.unit_messages(mark, UNITS)
        if step.rc is None:
            raise NodeError(
                f"the upgrade command `{command[:80]}` still runs on {node.name} after "
                f"{ctx.cell.timings.upgrade_timeout_s:g} s (upgrade_timeout_s)"
            )
        if step.rc != 0:
            last = step.output.strip().splitlines()[-1:] or ["no output"]
            raise NodeError(
                f"the upgrade command `{command[:80]}` failed on {node.name}: exit {step.rc}: {last[0]}"
            )

    def describe(self, cell: Cell) -> str:
        steps = "; then ".join(f"`{c}`" for c in self.commands)
        t = cell.timings
        return (
            f"run {steps} on the node, up to {t.upgrade_timeout_s:g} s, sampling dockerd and containerd "
            f"every {DAEMON_CHECK_PERIOD_S:g} s; then {until('its API answers', t.recover_timeout_s)}"
        )
