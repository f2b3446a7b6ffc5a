"""What a cell does to its node, one action at a time: deploy, stop or kill the daemon, wait
out the window, upgrade the engine, start it (unless it respawned), load, change, ...

Every action has the same interface: ``run(scenario)`` does it and leaves its evidence on
the scenario; ``describe(cell)`` says what it does in one line for ``lrmatrix plan``, and an
action that waits says until what and for how long at most (``Wait``). Which actions a
platform runs, and in which phase, is listed in ``lrmatrix.sequence``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix import image, setup_steps
from lrmatrix.deadline import Clock, poll
from lrmatrix.engines import Engine, upstream
from lrmatrix.errors import NodeError
from lrmatrix.probe import Probe, Target
from lrmatrix.serving import awaited
from lrmatrix.watch import DaemonWatch, NatWatch
from lrmatrix.workload import Workload

if TYPE_CHECKING:
    from lrmatrix.matrix import Cell
    from lrmatrix.scenario import Scenario


class Action(ABC):
    """One step of a cell's sequence."""

    name: ClassVar[str]
    #: a wait: ``describe`` reads "until ..., up to N s"
    waits: ClassVar[bool] = False

    @abstractmethod
    def run(self, s: Scenario) -> None:
        """Do it on ``s``'s node and record what was seen on ``s``."""

    @abstractmethod
    def describe(self, cell: Cell) -> str:
        """One line for ``lrmatrix plan``: what is done (or waited for, and how long at most)."""

    def waits_in(self, cell: Cell) -> bool:
        """Whether it waits in ``cell`` (most actions do or don't whatever the cell)."""
        return self.waits


#: how often a respawn cell looks for the new dockerd (a process check, tens of ms over ssh)
RESPAWN_CHECK_S = 0.05


def until(what: str, seconds: float) -> str:
    """How ``plan`` shows a wait: what ends it, and its bound."""
    return f"until {what}, up to {seconds:g} s"


# --- the workload ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DeployContainers(Action):
    """The nginx image on the node, and two containers with published ports."""

    name: ClassVar[str] = "deploy"

    def run(self, s: Scenario) -> None:
        tag = load_image(s)
        s.timed("image_load_s", s.ready_from)
        s.ready_from = s.now()  # the workload's readiness is counted without the image
        s.workload = Workload(s.node, tag, config_dir=s.node.work_dir, access_log=s.cell.access_log)
        s.workload.deploy()
        containers = [c for c in s.workload.snapshot() if c.ip]
        s.pod_ips = [c.ip for c in containers]
        s.pod_names = {c.ip: c.name for c in containers}
        setup_steps.reached("containers-started")

    def describe(self, cell: Cell) -> str:
        return f"load the nginx image; two containers, published ports, access log to {cell.access_log}"


def load_image(s: Scenario) -> str:
    """The image the cell was given (pulled if absent), else the offline-built one, imported."""
    if s.image_ref:
        if not s.node.dockerd.cli("image", "inspect", s.image_ref).ok:
            s.node.dockerd.cli_ok("pull", s.image_ref, timeout=300)
        return s.image_ref
    tag = image.image_tag()
    s.node.import_image(str(image.cached_tarball()), tag, image.CMD)
    return tag


@dataclass(frozen=True)
class AwaitPaths(Action):
    """Every access path answers (a gate: what recovery took is read from the probe)."""

    name: ClassVar[str] = "await"
    waits: ClassVar[bool] = True
    #: "ready": before the probe starts (a path that never answers fails the setup);
    #: "recovered": after the start (the answer is evidence for the after checks)
    when: str = "ready"

    def run(self, s: Scenario) -> None:
        timeout = self._timeout(s.cell)
        answered: dict[str, bool] = {}
        for path, targets in s.targets().items():
            answered[path] = s.wait_paths(targets, timeout, s.netns_for().get(path)) is not None
            if self.when == "ready" and not answered[path]:
                raise NodeError(f"the workload did not answer on the {path} path within {timeout:.0f}s")
        if self.when == "recovered":
            s.answered_after_start = answered
        else:
            s.timed("workload_ready_s", s.ready_from)
            setup_steps.reached("workload-ready")

    def _timeout(self, cell: Cell) -> float:
        return cell.timings.ready_timeout_s if self.when == "ready" else cell.timings.recover_timeout_s

    def describe(self, cell: Cell) -> str:
        return until("every endpoint answers on every access path", self._timeout(cell))


@dataclass(frozen=True)
class StartProbe(Action):
    """The probe on every path, in the background until teardown."""

    name: ClassVar[str] = "probe"

    def run(self, s: Scenario) -> None:
        s.start_probe()
        setup_steps.reached("probe-started")

    def describe(self, cell: Cell) -> str:
        return (
            f"probe every access path every {cell.timings.probe_interval_s:g} s "
            f"(timeout {cell.timings.probe_timeout_s:g} s), in the background until teardown"
        )


@dataclass(frozen=True)
class StartLoad(Action):
    """A probe of its own on the node path at the load's rate: the same bounded sender (new
    connection per request, bounded in time and count), its answers only counted."""

    name: ClassVar[str] = "load"

    def run(self, s: Scenario) -> None:
        load = s.cell.load
        assert load is not None and s.workload is not None
        targets = [
            Target(f"http://{s.node.address}:{port}{load.request_path}", "") for port in s.workload.ports
        ]
        s.load = Probe({"load": targets}, 1 / load.rate_per_s, s.cell.timings.probe_timeout_s)
        s.load.start()

    def describe(self, cell: Cell) -> str:
        load = cell.load
        assert load is not None
        return (
            f"load: {load.rate_per_s:g} requests/s on the node path to {load.path} "
            f"({load.pad_bytes} bytes of padding), in the background until teardown"
        )


@dataclass(frozen=True)
class Capture(Action):
    """Containers and their processes; before the stop also the log rate under load so far."""

    name: ClassVar[str] = "capture"
    which: str = "before"

    def run(self, s: Scenario) -> None:
        snap = s.capture()
        if self.which == "after":
            s.after = snap
            return
        s.before = snap
        if s.probe_wall0 is not None:
            s.log_pressure.measure(snap.containers, s.probe_wall0)
            s.timing["log_pressure_s"] = s.log_pressure.measured_s or 0.0

    def describe(self, cell: Cell) -> str:
        rate = ", and the containers' log rate so far" if self.which == "before" else ""
        return f"record the containers and their processes (shim, nginx master, workers){rate}"


# --- the disruption --------------------------------------------------------------------------
@dataclass(frozen=True)
class Stop(Action):
    """Stop the daemon as the node's service manager would, and confirm it gone; from then on
    watch whether it comes back by itself and whether the containers' log pipes fill."""

    name: ClassVar[str] = "stop"
    waits: ClassVar[bool] = True
    signal: str = "SIGTERM"

    def run(self, s: Scenario) -> None:
        node = s.node
        s.before_pid = node.daemon_pid()
        if s.before_pid is None and not s.cell.held_down:  # its return is judged by the pid killed
            raise NodeError(
                f"no dockerd pid found on {node.name} to {self.name}: the cell's disruption needs one"
            )
        watch = node.watches_daemon
        if watch:
            s.proxies["before_stop"] = node.processes.named("docker-proxy")
        s.event("daemon stopping", self.signal)
        s.stop_at = s.now()
        node.stop_daemon(self.signal)
        s.stopped_at = s.now()
        s.timing["daemon_stop_s"] = round(s.stopped_at - s.stop_at, 3)
        # confirmed, not assumed: gone now, and watched until the start command (a respawn
        # cell's daemon is not held down: its return is what the cell waits for)
        if watch and s.cell.held_down:
            up = node.daemon_up()
            if up:
                found = "" if s.before_pid else " (no dockerd pid was found to stop)"
                raise NodeError(f"the daemon is not gone after the stop{found}: {up}")
            s.proxies["gone"] = node.processes.named("docker-proxy")
            s.daemon_watch = DaemonWatch(node)
            s.daemon_watch.start()
        if s.cell.live_restore:  # the containers run on, logging into undrained pipes
            assert s.before is not None
            window = s.cell.timings.outage_window_s
            s.log_pressure.start_watch(s.before.containers, s.stopped_at, window + 5)
        s.event("daemon stopped")

    def describe(self, cell: Cell) -> str:
        gone = until("it is gone", cell.timings.stop_timeout_s)
        return f"{self.name} dockerd ({self.signal}) {self.manner}, {gone}"

    @property
    def manner(self) -> str:
        return "as the service manager would"


@dataclass(frozen=True)
class Kill(Stop):
    """A crash: dockerd killed without a chance to clean up."""

    name: ClassVar[str] = "kill"
    signal: str = "SIGKILL"

    @property
    def manner(self) -> str:
        return "as a crash would"


@dataclass(frozen=True)
class OutageWindow(Action):
    """The daemon stays gone for the whole window, counted from when it was gone; then the
    watches end: whether it came back by itself (respawned: its API answers, so it is not
    started again), which containers stalled."""

    name: ClassVar[str] = "window"
    waits: ClassVar[bool] = True

    def run(self, s: Scenario) -> None:
        assert s.stopped_at is not None
        remaining = s.stopped_at + s.cell.timings.outage_window_s - s.now()
        if remaining > 0:
            s.sleep(remaining)
        came_back = s.end_daemon_watch()
        s.log_pressure.stop_watch()
        s.mark_stalls()
        s.start_at = s.now()
        s.timing["outage_window_s"] = round(s.start_at - s.stopped_at, 3)
        s.event("daemon starting")
        s.respawned = came_back and s.node.dockerd.api_ready()

    def describe(self, cell: Cell) -> str:
        return f"{until('the outage window ends', cell.timings.outage_window_s)} after the daemon was gone"


@dataclass(frozen=True)
class AwaitRespawn(Action):
    """A respawn cell's outage: until the node's service manager has started a new dockerd by
    itself (a process other than the one killed; a socket that systemd keeps listening is not
    a daemon here, and nothing connects to it) and its API answers; no start command."""

    name: ClassVar[str] = "respawn"
    waits: ClassVar[bool] = True

    def run(self, s: Scenario) -> None:
        node, timings = s.node, s.cell.timings
        assert s.stop_at is not None
        seen_at: list[float] = []

        def back() -> bool:
            at = s.now()
            if [pid for pid in node.processes.named("dockerd") if pid != s.before_pid]:
                seen_at.append(at)
            return bool(seen_at)

        poll(back, timings.recover_timeout_s, RESPAWN_CHECK_S, Clock(s.now, s.sleep))
        s.log_pressure.stop_watch()
        s.mark_stalls()
        if not seen_at:
            raise NodeError(
                f"dockerd was not started again by the node's service manager within "
                f"{timings.recover_timeout_s:g} s of the kill; teardown starts it"
            )
        s.start_at, s.respawned = seen_at[0], True
        s.timing["respawn_s"] = round(seen_at[0] - s.stop_at, 3)  # from the kill
        node.dockerd.wait_api(timings.recover_timeout_s)
        s.api_at = s.now()
        s.event_at(seen_at[0], "daemon respawned", node.daemon_up() or "")
        s.versions_after = node.versions()

    def describe(self, cell: Cell) -> str:
        back = until(
            "the service manager has started a new dockerd by itself", cell.timings.recover_timeout_s
        )
        return f"{back} (seen every {RESPAWN_CHECK_S:g} s), and its API answers (no start command)"


@dataclass(frozen=True)
class Upgrade(Action):
    """Another engine on the same data-root from the next start on (upgrade and downgrade
    cells); a daemon that came back by itself is left as it is."""

    name: ClassVar[str] = "upgrade"
    engine: Engine

    def run(self, s: Scenario) -> None:
        if not s.respawned:
            s.node.switch_engine(self.engine)

    def describe(self, cell: Cell) -> str:
        pinned = "" if self.engine.is_machine else f" (Docker {self.engine.version})"
        return f"switch the node to engine {self.engine.name}{pinned}, same data-root"


@dataclass(frozen=True)
class WatchNat(Action):
    """What the NAT table does while the daemon starts and the paths come back (drivers
    that can read it)."""

    name: ClassVar[str] = "nat"

    def run(self, s: Scenario) -> None:
        if s.node.samples_nat:
            s.nat_watch = NatWatch(s.node, limit_s=s.cell.timings.recover_timeout_s + 30)
            s.nat_watch.start()

    def describe(self, cell: Cell) -> str:
        return "watch the NAT table (where the driver can read it) until the paths answer again"


@dataclass(frozen=True)
class Start(Action):
    """Start the daemon and wait for its API, unless it respawned (came back by itself
    during the window): it is not started twice. What answers then is recorded."""

    name: ClassVar[str] = "start"
    waits: ClassVar[bool] = True

    def run(self, s: Scenario) -> None:
        assert s.start_at is not None
        if not s.respawned:
            s.node.start_daemon()
        s.api_at = s.now()
        s.timing["daemon_start_s"] = round(s.api_at - s.start_at, 3)
        s.event("daemon started")
        s.versions_after = s.node.versions()
        before, after = (upstream(v.get("docker", "?")) for v in (s.versions, s.versions_after))
        if before != after:
            s.event(f"dockerd {before} → {after}", f"engine {s.cell.next_engine.name}")

    def describe(self, cell: Cell) -> str:
        answers = until("its API answers", cell.timings.recover_timeout_s)
        return f"start dockerd as the service manager would (not if it came back by itself), {answers}"


@dataclass(frozen=True)
class EndNatWatch(Action):
    """The NAT table was watched while the daemon started and the paths came back."""

    name: ClassVar[str] = "nat"

    def run(self, s: Scenario) -> None:
        if s.nat_watch is not None:
            s.nat_watch.stop()

    def describe(self, cell: Cell) -> str:
        return "stop watching the NAT table (watched from the start command until here)"


# --- the change and the end --------------------------------------------------------------------
@dataclass(frozen=True)
class AwaitProbeRecovery(Action):
    """Until the probe itself has seen every container answer again (bounded by
    recover_timeout_s): an answer it gets only after the change began would count for the
    change, and a recovered container would read as never serving again."""

    name: ClassVar[str] = "await"
    waits: ClassVar[bool] = True

    def run(self, s: Scenario) -> None:
        d = s.disruption
        if s.probe is None or d.stop_at is None or d.start_at is None:
            return
        node = s.probe.records.get("node")
        if node is not None:
            timings, stop_at, start_at = s.cell.timings, d.stop_at, d.start_at

            def answered() -> bool:
                return not awaited(list(node.samples), stop_at, start_at)

            poll(answered, timings.recover_timeout_s, timings.probe_interval_s, Clock(s.now, s.sleep))

    def describe(self, cell: Cell) -> str:
        return until("the probe has seen every container answer again", cell.timings.recover_timeout_s)


class Change(Action):
    """The workload's configuration change; from its start on a failure is the change's own."""

    name: ClassVar[str] = "change"

    def run(self, s: Scenario) -> None:
        s.change_at = s.now()
        s.event("config changing")
        self.apply(s)
        s.event("config changed")

    @abstractmethod
    def apply(self, s: Scenario) -> None:
        """Change the configuration and wait until it is in effect."""


@dataclass(frozen=True)
class ChangeConfig(Change):
    """nginx's configuration changed and reloaded in each container."""

    def apply(self, s: Scenario) -> None:
        assert isinstance(s.workload, Workload)
        s.workload.apply_change()

    def describe(self, cell: Cell) -> str:
        return "change nginx's configuration in each container and reload it"


@dataclass(frozen=True)
class StopProbe(Action):
    """The probe and the load end; the verdicts are decided from what the probe saw."""

    name: ClassVar[str] = "verdict"

    def run(self, s: Scenario) -> None:
        s.stop_probe()

    def describe(self, cell: Cell) -> str:
        return f"stop the probe; decide the verdict from its samples (expected: {cell.expect})"
