"""The scenario of one cell: runs its platform's sequence and holds the evidence.

baseline -> disrupt -> outage -> recover -> after -> change -> teardown. Entering a phase
runs that phase's actions (``lrmatrix.sequence``; the actions themselves are in
``lrmatrix.actions``); the node checks of each phase run in between. What the actions see
is kept here and becomes the result file.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrmatrix import daemon_config, results, setup_steps
from lrmatrix.drivers.base import Node
from lrmatrix.errors import KeepNode, LrmatrixError, NodeError
from lrmatrix.findings import address_changes, findings, misdirected_responses
from lrmatrix.log_pressure import LogPressure
from lrmatrix.matrix import Cell
from lrmatrix.modules.processes import ProcInfo
from lrmatrix.other_containers import CHECK_ID as OTHERS_CHECK
from lrmatrix.probe import PathRecord, Probe, Target, wait_until_ok
from lrmatrix.sequence import PHASES, sequence_for
from lrmatrix.timestamps import iso
from lrmatrix.verdict import Disruption, Verdict, decide, with_caveat
from lrmatrix.watch import DaemonWatch, NatWatch
from lrmatrix.workload import ENDPOINTS, ContainerState, PodContainers, Workload

if TYPE_CHECKING:
    from lrmatrix.kube.api import Kube
    from lrmatrix.kube.steps import KubeCell
    from lrmatrix.package_upgrade import Upgrade

#: how long a reload may take to show in ``docker info`` before the scenario restarts instead
RELOAD_POLLS, RELOAD_POLL_S = 50, 0.1


@dataclass
class Snapshot:
    """Containers (from the API) and their processes (from /proc): shim, nginx master, workers."""

    containers: list[ContainerState]
    procs: dict[str, list[ProcInfo]] = field(default_factory=dict)

    def all_procs(self) -> list[ProcInfo]:
        return [p for group in self.procs.values() for p in group]


class Scenario:
    """Runs a cell's sequence on its node, phase by phase, and keeps what was seen."""

    def __init__(self, cell: Cell, node: Node, results_dir: Path, image_ref: str | None = None) -> None:
        self.cell = cell
        self.node = node
        self.results_dir = results_dir
        self.image_ref = image_ref
        self.sequence = sequence_for(cell)
        self.t0 = self.now()
        self.ready_from = self.t0  # setup's clock for the image load and the workload's readiness
        self.wall0 = time.time()
        self.phase: str | None = None
        self.phases: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.skipped_checks: list[dict[str, str]] = []  # node checks pytest skipped, with why
        self.timing: dict[str, float] = {}
        self.backup: daemon_config.Backup | None = None
        self.original_config: dict[str, Any] = {}
        self.effective: bool | None = None
        self.versions: dict[str, str] = {}
        self.versions_after: dict[str, str] = {}
        self.workload: Workload | PodContainers | None = None
        self.kube: KubeCell | None = None
        self.pod_ips: list[str] = []
        self.pod_names: dict[str, str] = {}  # container IP -> the container it belonged to at setup
        self.probe: Probe | None = None
        self.before: Snapshot | None = None
        self.after: Snapshot | None = None
        self.stop_at: float | None = None
        self.start_at: float | None = None
        self.stopped_at: float | None = None
        self.before_pid: int | None = None
        self.respawned = False  # came back by itself during the window, its API answering
        self.api_at: float | None = None
        self.not_back = ""  # why the daemon (or the new engine) never answered after the start
        self.change_at: float | None = None
        self.answered_after_start: dict[str, bool] = {}
        self.daemon_watch: DaemonWatch | None = None
        self.nat_watch: NatWatch | None = None
        self.upgrade: Upgrade | None = None  # a package-upgrade cell's commands and what they did
        self.staged: list[str] = []  # .debs staged on the node for them
        self.logs: dict[str, bytes] = {}  # saved beside the result as <cell>.<name>
        self.saved_logs: dict[str, bytes] = {}  # the node's and these, read before it is destroyed
        self.log_problems: list[str] = []  # logs that could not be written beside the result
        self.written: results.Written | None = None  # where the result went
        # this node's docker-proxy processes: before the stop, once the daemon is gone, and
        # at the start command (``None``: not looked at)
        self.proxies: dict[str, list[int] | None] = {"before_stop": None, "gone": None, "before_start": None}
        self.log_pressure = LogPressure(node)
        self.load: Probe | None = None
        self.probe_wall0: float | None = None
        self.verdict: Verdict | None = None
        self.path_verdicts: dict[str, Verdict] = {}
        self.aborted: str | None = None
        self.setup_error: LrmatrixError | None = None
        self.interrupted: str | None = None  # what stopped the run, and where (set by the plugin)
        self.finished = False
        self.final: dict[str, Any] = {}

    # --- what the tests' dry run (contract.dryrun) replaces: clock, waiting, traffic, output
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def announce(self, phase: str) -> None:
        """Called before a phase's actions run (the dry run records it as a heading)."""

    def wait_paths(self, targets: list[Target], timeout: float, netns: str | None = None) -> float | None:
        return wait_until_ok(targets, timeout, self.cell.timings.probe_timeout_s, netns)

    def start_probe(self) -> None:
        self.probe = Probe(
            self.targets(),
            self.cell.timings.probe_interval_s,
            self.cell.timings.probe_timeout_s,
            self.netns_for(),
        )
        self.probe_wall0 = time.time()
        self.probe.start()

    def kube_client(self) -> Kube:
        from lrmatrix.kube.api import cluster_of

        return cluster_of(self.node)

    def write_result(self) -> Path | None:
        """The result first, wherever it can go (``results.write_somewhere``); then the logs
        beside it: evidence before anything optional, so a full disk takes the logs, not it."""
        self.written = results.write_somewhere(self.final, self.results_dir)
        if self.written.path is not None:
            self._write_logs(self.written.path.parent)
        return self.written.path

    # --- helpers -------------------------------------------------------------------------
    def rel_or_none(self, t: float | None) -> float | None:
        return None if t is None else self.rel(t)

    def rel(self, t: float | None = None) -> float:
        return round((self.now() if t is None else t) - self.t0, 3)

    def event(self, name: str, detail: str = "") -> None:
        self.events.append({"name": name, "t": self.rel(), "at": iso(time.time()), "detail": detail})

    def event_at(self, at: float, name: str, detail: str = "") -> None:
        """An event at a past moment (``at``, monotonic) that a watcher saw, in time order."""
        wall = iso(self.wall0 + at - self.t0)
        self.events.append({"name": name, "t": self.rel(at), "at": wall, "detail": detail})
        self.events.sort(key=lambda e: e["t"])

    def timed(self, key: str, start: float) -> None:
        self.timing[key] = round(self.now() - start, 3)

    def targets(self) -> dict[str, list[Target]]:
        """Every endpoint of every container, per access path the node offers: ``node`` (node
        address + published port), and from inside the node's namespace ``loopback``
        (127.0.0.1, through docker-proxy) and ``pod`` (the container's own IP and port)."""
        assert self.workload is not None
        ports = self.workload.ports
        # the container each address belongs to ("" behind a shared one: a NodePort)
        owners = self.workload.names if isinstance(self.workload, Workload) else [""] * len(ports)
        paths = {
            "node": [(f"{self.node.address}:{port}", who) for port, who in zip(ports, owners, strict=True)]
        }
        if self.node.loopback_netns():
            paths["loopback"] = [(f"127.0.0.1:{port}", who) for port, who in zip(ports, owners, strict=True)]
            if self.pod_ips:
                paths["pod"] = [(f"{ip}:80", self.pod_names.get(ip, "")) for ip in self.pod_ips]
        # endpoint-major: the round robin alternates containers, so with two each is asked
        # every second interval (100 ms by default), not in bursts
        found = {
            path: [
                Target(f"http://{where}{ep.path}", ep.expect, container=who)
                for ep in ENDPOINTS
                for where, who in places
            ]
            for path, places in paths.items()
        }
        return found | self.node.api_targets()

    def netns_for(self) -> dict[str, str]:
        """Paths probed from inside the node's network namespace."""
        ns = self.node.loopback_netns()
        return {"loopback": ns, "pod": ns} if ns else {}

    # --- setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        start = self.now()
        self.node.create()
        self.timed("node_start_s", start)
        self.event("node created", getattr(self.node, "name", ""))
        if self.node.node_path_caveat():
            self.event("caveat", self.node.node_path_caveat() or "")
        self.configure_live_restore()
        setup_steps.reached("live-restore-set")
        self.versions = self.node.versions()
        self.ready_from = self.now()
        for action in self.sequence.setup:  # the workload, until it answers; the probe
            action.run(self)
        self.advance("baseline")

    def configure_live_restore(self) -> None:
        """Merge live-restore into daemon.json (backup first), then make the running daemon
        use it by a reload (SIGHUP): live-restore is reloadable, and a restart while it is off
        stops every container (on a Kubernetes node, the control plane's static pods too).
        Restart only when a reload did not change the effective setting."""
        path = self.node.daemon_json_path
        raw = self.node.read_file(path)
        self.backup = daemon_config.Backup(path, raw)
        self.original_config = daemon_config.parse(raw, path)
        if self.original_config.get(daemon_config.KEY) is not self.cell.live_restore:
            self.node.write_file(path, daemon_config.merge_live_restore(raw, self.cell.live_restore, path))
        self.effective = self.node.dockerd.effective_live_restore()
        if self.effective is self.cell.live_restore:
            return
        wanted = f"live-restore={str(self.cell.live_restore).lower()}"
        start = self.now()
        self.node.reload_daemon()
        for _ in range(RELOAD_POLLS):  # dockerd applies a SIGHUP asynchronously
            self.effective = self.node.dockerd.effective_live_restore()
            if self.effective is self.cell.live_restore:
                self.timed("live_restore_reload_s", start)
                self.event("daemon reloaded", wanted)
                return
            time.sleep(RELOAD_POLL_S)
        self.node.stop_daemon("SIGTERM")
        self.node.start_daemon()
        self.timed("live_restore_restart_s", start)
        self.event("daemon restarted", f"{wanted}: a reload did not change it")
        self.effective = self.node.dockerd.effective_live_restore()

    def capture(self) -> Snapshot:
        assert self.workload is not None
        snap = Snapshot(self.workload.snapshot())
        trees = self.node.processes.trees([c.pid for c in snap.containers if c.pid])
        for c in snap.containers:
            snap.procs[c.name] = trees.get(c.pid, []) if c.pid else []
        return snap

    # --- phases --------------------------------------------------------------------------
    def _enter(self, name: str) -> None:
        now, wall = self.rel(), time.time()
        if self.phases and self.phases[-1]["finished_at"] is None:
            self.phases[-1].update(finished_at=iso(wall), t_end=now)
        self.phases.append(
            {"name": name, "started_at": iso(wall), "finished_at": None, "t_start": now, "t_end": None}
        )
        self.phase = name

    def advance(self, target: str) -> None:
        """Run every transition up to ``target``; a failed transition aborts the rest."""
        if self.aborted:
            raise NodeError(f"scenario aborted: {self.aborted}")
        current = PHASES.index(self.phase) if self.phase else -1
        for name in PHASES[current + 1 : PHASES.index(target) + 1]:
            self.announce(name)
            try:
                for action in self.sequence.phases[name]:
                    action.run(self)
            except BaseException as exc:
                self.aborted = f"entering {name}: {exc}"
                self.event("aborted", self.aborted)
                if self.start_at is not None and self.api_at is None and not self.not_back:
                    self.not_back = str(exc) or type(exc).__name__
                raise
            self._enter(name)

    def mark_stalls(self) -> None:
        """An event for each stall the watch saw, at its time: the timeline marks it."""
        assert self.stopped_at is not None
        for name, p in self.log_pressure.pressure.items():
            if p.stalled_at_s is not None:
                self.event_at(self.stopped_at + p.stalled_at_s, f"{name} stalled", p.blocked)

    def end_daemon_watch(self) -> bool:
        """Stop watching at the start command; whether the daemon came back before it."""
        if self.daemon_watch is None:
            return False
        self.daemon_watch.stop()
        if self.daemon_watch.came_back_at is None:
            self.proxies["before_start"] = self.node.processes.named("docker-proxy")
            return False
        self.event("daemon came back by itself", self.daemon_watch.came_back)
        return True

    def stop_watchers(self) -> None:
        for watcher in (self.daemon_watch, self.nat_watch, self.log_pressure.watch):
            if watcher is not None:
                watcher.stop()

    @property
    def disruption(self) -> Disruption:
        watch = self.daemon_watch
        return Disruption(
            stop_at=self.stop_at,
            stopped_at=self.stopped_at,
            start_at=self.start_at,
            api_at=self.api_at,
            change_at=self.change_at,
            came_back_at=watch.came_back_at if watch else None,
            came_back=watch.came_back if watch else "",
            not_back=self._not_back(),
            origin=self.t0,
        )

    def _not_back(self) -> str:
        """Why nothing answered after the stop, in the cell's words: an upgrade cell's new engine
        that refuses to start is the finding a team runs this matrix for."""
        if self.api_at is not None or self.start_at is None:
            return ""
        engine = self.cell.engine_after
        what = (
            f"the new engine ({engine.name}) did not start"
            if engine is not None and engine != self.cell.engine
            else "the daemon did not come back"
        )
        return f"{what}: {self.not_back}" if self.not_back else what

    def stop_probe(self) -> None:
        self.stop_watchers()
        if self.load is not None:
            self.load.stop()
        if self.probe is not None and self.verdict is None:
            self.probe.stop()
            records, d = self.probe.records, self.disruption
            every = self.cell.timings.probe_interval_s
            if self.aborted and (d.stop_at is None or d.start_at is None):
                self.verdict = Verdict(self.cell.expect, "error", self.aborted)
                return
            caveat = self.node.node_path_caveat()
            self.verdict = with_caveat(decide(self.cell.expect, records["node"], d, every), caveat)
            self.path_verdicts = {
                path: decide(expected, records.get(path) or PathRecord(path, stopped="asked"), d, every)
                for path, expected in self.cell.expect_paths.items()
            }

    # --- teardown ------------------------------------------------------------------------
    def finish(self) -> Path | None:
        """Always runs: stop probing, restore daemon.json, destroy the node, write the result."""
        if self.finished:
            return None
        self.finished = True
        start = self.now()
        if self.phase != "teardown":
            self._enter("teardown")
        steps: list[tuple[str, Callable[[], object]]] = [
            ("stop_probe", self.stop_probe),
            *((action.name, partial(action.run, self)) for action in self.sequence.cleanup),
            ("save_logs", self._save_logs),
            ("restore_daemon_json", self._restore_config),
            ("destroy_node", self.node.destroy),
        ]
        kept: KeepNode | None = None
        for name, step in steps:  # each runs whatever happened to the one before
            if kept is not None and name in ("restore_daemon_json", "destroy_node"):
                self.record("teardown", name, False, f"not done: {kept}")
                continue
            try:
                step()
            except KeepNode as exc:
                kept = exc
                self.record("teardown", name, False, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # recorded as a failed teardown check, never hidden
                self.record("teardown", name, False, f"{type(exc).__name__}: {exc}")
        residue = self.node.residue()
        self.node.release()
        self.record(
            "teardown", "node_left_clean", not residue, "nothing left" if not residue else "; ".join(residue)
        )
        if (others := self.node.other_containers()) is not None:  # an existing node's own containers
            self.record("teardown", OTHERS_CHECK, *others.check())
        self.timed("teardown_s", start)
        self.phases[-1].update(finished_at=iso(time.time()), t_end=self.rel())
        self.final = self.result()
        return self.write_result()

    def _save_logs(self) -> None:
        """The daemon's own log, the first thing to read when a cell fails: read while the node
        still exists, written beside the result once the result is safe."""
        self.saved_logs = self.node.logs() | self.logs

    def _write_logs(self, folder: Path) -> None:
        for name, data in self.saved_logs.items():
            path = folder / f"{self.cell.name}.{name}"
            try:
                path.write_bytes(data)
            except OSError as exc:
                with contextlib.suppress(OSError):  # no truncated log that reads as the whole
                    path.unlink(missing_ok=True)
                self.log_problems.append(f"{path}: not written ({exc.strerror or exc})")

    def _restore_config(self) -> None:
        if self.backup is None:
            return
        path = self.backup.path
        if self.node.read_file(path) != self.backup.original:
            if self.backup.original is None:  # the node had no daemon.json (Debian's default)
                self.node.run(["rm", "-f", path])
            else:
                self.node.write_file(path, self.backup.original)
        ok = self.node.read_file(path) == self.backup.original
        self.record(
            "teardown",
            "daemon_json_restored_byte_identical",
            ok,
            "restored" if ok else "daemon.json differs from the backup",
        )

    def record(self, phase: str, check_id: str, passed: bool, detail: str = "") -> None:
        self.checks.append({"id": check_id, "phase": phase, "passed": bool(passed), "detail": detail})

    # --- result --------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        verdict = self.verdict or Verdict(
            self.cell.expect, "error", self.aborted or str(self.setup_error or "not run")
        )
        path_verdicts = self.path_verdicts
        if self.interrupted:  # whatever the probe saw, the scenario did not run to its end
            verdict = Verdict(self.cell.expect, "interrupted", self.interrupted)
            path_verdicts = {
                p: Verdict(v.expected, "interrupted", self.interrupted) for p, v in path_verdicts.items()
            }
        containers = self._containers_summary()
        others = self.node.other_containers()
        probes = {}
        if self.probe is not None:
            probes = {
                name: results.summarize_path(
                    rec, self.t0, self.disruption, self.cell.timings.probe_interval_s
                )
                for name, rec in self.probe.records.items()
            }
        return {
            "schema": results.SCHEMA,
            "cell": self.cell.name,
            "driver": self.node.scheme,
            "platform": self.cell.platform,
            "variant": self.cell.variant,
            "node": {
                "address": self._safe(lambda: self.node.address),
                "name": getattr(self.node, "name", ""),
                "host": platform.node(),
            },
            "started_at": iso(self.wall0),
            "finished_at": iso(time.time()),
            "versions": {
                **self.versions,
                **({"kubernetes": self.cell.kubernetes} if self.cell.kubernetes else {}),
            },
            "live_restore": {"configured": self.cell.live_restore, "effective": self.effective},
            # the engine the node started with and the one that answered after the window
            "engine": {
                "before": {"name": self.cell.engine.name, **self.versions},
                "after": {"name": self.cell.next_engine.name, **self.versions_after},
            },
            "timings_configured": vars(self.cell.timings),
            "timing": self.timing,
            "phases": self.phases,
            "events": self.events,
            "checks": self.checks,
            "skipped_checks": self.skipped_checks,
            "probes": probes,
            "containers": containers,
            "disruption": self._disruption_summary(),
            # per path: seconds after the API answered again until every target answered too
            "recovery": {name: p["recovery_s"] for name, p in probes.items()},
            "findings": findings(
                probes,
                self.rel_or_none(self.stop_at),
                self.rel_or_none(self.start_at),
                self.rel_or_none(self.disruption.change_at),
                nat=self._nat_summary(),
                proxies=self.proxies,
            )
            + address_changes(containers["before"], containers["after"])
            + misdirected_responses(probes)
            # without live-restore the containers stop with the daemon: no horizon to state
            + (self.log_pressure.findings() if self.cell.live_restore else [])
            + (self.kube.findings() if self.kube is not None else [])
            + (self.upgrade.findings(self.t0, self.wall0) if self.upgrade is not None else [])
            + (others.findings() if others is not None else []),
            "other_containers": others.as_dict() if others is not None else None,
            "log_pressure": self.log_pressure.as_dict(),
            "upgrade": self.upgrade.as_dict(self.t0, self.wall0) if self.upgrade is not None else None,
            "load": self._load_summary(),
            **({"kubernetes": self.kube.summary()} if self.kube is not None else {}),
            "error": str(self.interrupted or self.setup_error or self.aborted or "") or None,
            "verdict": verdict.as_dict(),
            "path_verdicts": {path: v.as_dict() for path, v in path_verdicts.items()},
        }

    def _disruption_summary(self) -> dict[str, Any]:
        """Times since the start (the watch's own record beside them), and what was watched."""
        d = self.disruption
        times = ("stop_at", "stopped_at", "start_at", "api_at", "change_at", "came_back_at")
        return {
            **{k: self.rel_or_none(getattr(d, k)) for k in times},
            "came_back": d.came_back,
            "daemon_watch": self.daemon_watch.as_dict(self.t0) if self.daemon_watch else None,
            "docker_proxy": self.proxies,
            "nat": self._nat_summary(),
        }

    def _load_summary(self) -> dict[str, Any] | None:
        """What the load generator asked for and what it really sent."""
        if self.load is None or self.cell.load is None:
            return None
        samples = self.load.records["load"].samples
        span = samples[-1].t - samples[0].t if len(samples) > 1 else 0.0
        return {
            **vars(self.cell.load),
            "sent": len(samples),
            "failed": sum(1 for x in samples if not x.ok),
            "achieved_per_s": round((len(samples) - 1) / span, 1) if span else None,
            "stopped": self.load.records["load"].stopped,
        }

    def _nat_summary(self) -> dict[str, Any] | None:
        return self.nat_watch.as_dict(self.t0) if self.nat_watch else None

    def _safe(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except LrmatrixError:
            return None

    def _containers_summary(self) -> dict[str, Any]:
        def dump(snap: Snapshot | None) -> list[dict[str, Any]]:
            if snap is None:
                return []
            return [
                {**vars(c), "procs": [p.pid for p in snap.procs.get(c.name, [])]} for c in snap.containers
            ]

        kept = None
        if self.before and self.after:
            before = {p.key for p in self.before.all_procs()}
            after = {p.key for p in self.after.all_procs()}
            kept = bool(before) and before <= after
        return {"before": dump(self.before), "after": dump(self.after), "pids_kept": kept}
