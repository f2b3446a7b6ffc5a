"""Actions on the workload: deploy it, wait until it answers, probe it, load it, capture it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence import log_pressure
from lrmatrix.evidence.probe import Target
from lrmatrix.evidence.records import Deployed, Recovered, Timing
from lrmatrix.run import setup_steps
from lrmatrix.run.actions.base import Action, until
from lrmatrix.run.background import LOAD, PROBE, LoadRun, ProbeRun
from lrmatrix.workload import image
from lrmatrix.workload.containers import Workload
from lrmatrix.workload.snapshot import capture
from lrmatrix.workload.targets import netns_for, targets

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.evidence.records import Record
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class DeployContainers(Action):
    """The nginx image on the node, and two containers with published ports."""

    name: ClassVar[str] = "deploy"
    #: an image the node pulls (``--image``) instead of the offline-built one
    image_ref: str | None = None

    def run(self, ctx: Context) -> list[Record]:
        start = ctx.clock.now()
        tag = load_image(ctx, self.image_ref)
        loaded = ctx.clock.now()
        workload = self.workload(ctx.node, ctx.cell, tag)
        workload.deploy()
        setup_steps.reached("containers-started")
        containers = [c for c in workload.snapshot() if c.ip]
        names = {c.ip: c.name for c in containers}
        return [ctx.timing("image_load_s", start, loaded), Deployed(workload, loaded, tuple(names), names)]

    @staticmethod
    def workload(node: Node, cell: Cell, tag: str) -> Workload:
        """The cell's containers on ``node``: what ``run`` deploys and ``plan --commands`` shows."""
        return Workload(node, tag, config_dir=node.work_dir, access_log=cell.access_log)

    def describe(self, cell: Cell) -> str:
        return f"load the nginx image; two containers, published ports, access log to {cell.access_log}"


def load_image(ctx: Context, image_ref: str | None) -> str:
    """The image the cell was given (pulled if absent), else the offline-built one, imported."""
    node = ctx.node
    if image_ref:
        if not node.dockerd.cli("image", "inspect", image_ref).ok:
            node.dockerd.cli_ok("pull", image_ref, timeout=300)
        return image_ref
    tag = image.image_tag()
    node.import_image(str(image.cached_tarball()), tag, image.CMD)
    return tag


@dataclass(frozen=True)
class AwaitPaths(Action):
    """Every access path answers (a gate: what recovery took is read from the probe)."""

    name: ClassVar[str] = "await"
    waits: ClassVar[bool] = True
    #: "ready": before the probe starts (a path that never answers fails the setup);
    #: "recovered": after the start (the answer is evidence for the after checks)
    when: str = "ready"

    def run(self, ctx: Context) -> list[Record]:
        timeout = self._timeout(ctx.cell)
        deployed = ctx.evidence.require(Deployed)
        answered: dict[str, bool] = {}
        netns = netns_for(ctx.node)
        for path, found in targets(ctx.node, deployed).items():
            waited = ctx.services.wait_paths(
                found, timeout, ctx.cell.timings.probe_timeout_s, netns.get(path)
            )
            answered[path] = waited is not None
            if self.when == "ready" and not answered[path]:
                raise NodeError(f"the workload did not answer on the {path} path within {timeout:.0f}s")
        if self.when == "recovered":
            return [Recovered(answered)]
        setup_steps.reached("workload-ready")
        return [ctx.timing("workload_ready_s", deployed.at)]

    def _timeout(self, cell: Cell) -> float:
        return cell.timings.ready_timeout_s if self.when == "ready" else cell.timings.recover_timeout_s

    def describe(self, cell: Cell) -> str:
        return until("every endpoint answers on every access path", self._timeout(cell))


@dataclass(frozen=True)
class StartProbe(Action):
    """The probe on every path, in the background until teardown."""

    name: ClassVar[str] = "probe"

    def run(self, ctx: Context) -> list[Record]:
        t = ctx.cell.timings
        paths = targets(ctx.node, ctx.evidence.require(Deployed))
        probe = ctx.services.new_probe(paths, t.probe_interval_s, t.probe_timeout_s, netns_for(ctx.node))
        ctx.running.start(PROBE, ProbeRun(probe, ctx.clock.wall0 + ctx.clock.rel()))
        probe.start()
        setup_steps.reached("probe-started")
        return []

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

    def run(self, ctx: Context) -> list[Record]:
        load = ctx.cell.load
        assert load is not None
        workload = ctx.evidence.require(Deployed).workload
        found = [
            Target(f"http://{ctx.node.address}:{port}{load.request_path}", "") for port in workload.ports
        ]
        # each port gets a request per tick: the ticks are spaced so the ports share the rate
        every = len(found) / load.rate_per_s
        probe = ctx.services.new_probe({"load": found}, every, ctx.cell.timings.probe_timeout_s)
        ctx.running.start(LOAD, LoadRun(probe, load))
        probe.start()
        return []

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

    def run(self, ctx: Context) -> list[Record]:
        snap = capture(ctx.node, ctx.evidence.require(Deployed).workload, self.which)
        probe = ctx.running.get(PROBE, ProbeRun)
        if self.which != "before" or probe is None:
            return [snap]
        pressure = log_pressure.measure(ctx.node, snap.containers, probe.wall0)
        return [snap, pressure, Timing("log_pressure_s", pressure.measured_s or 0.0)]

    def describe(self, cell: Cell) -> str:
        rate = ", and the containers' log rate so far" if self.which == "before" else ""
        return f"record the containers and their processes (shim, nginx master, workers){rate}"
