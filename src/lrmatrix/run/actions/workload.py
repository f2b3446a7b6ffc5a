"""Actions on the workload: deploy it, wait until it answers, probe it, load it, capture it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import BadInput, NodeError
from lrmatrix.evidence import log_pressure
from lrmatrix.evidence.probe import Sample, Target, wait_until_ok
from lrmatrix.evidence.records import Deployed, Recovered, Timing
from lrmatrix.modules.dockerd import import_args
from lrmatrix.run import setup_steps
from lrmatrix.run.actions.base import Action, until
from lrmatrix.run.background import LOAD, PROBE, LoadRun, ProbeRun
from lrmatrix.workload import image
from lrmatrix.workload.containers import Workload
from lrmatrix.workload.seed import seed
from lrmatrix.workload.snapshot import capture
from lrmatrix.workload.stopped import STOPPED_CHECK_S, left_stopped
from lrmatrix.workload.targets import netns_for, targets

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.evidence.records import Record
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context
    from lrmatrix.workload.spec import WorkloadSpec


@dataclass(frozen=True)
class DeployContainers(Action):
    """The cell's workload on the node: its image, and one container per replica, each
    published on its own node port."""

    name: ClassVar[str] = "deploy"
    #: an image the node pulls (``--image``) instead of the workload's own
    image_ref: str | None = None

    def run(self, ctx: Context) -> list[Record]:
        start = ctx.clock.now()
        tag = load_image(ctx, self.image_ref)
        loaded = ctx.clock.now()
        workload = self.workload(ctx.node, ctx.cell, tag)
        deploy(workload)
        setup_steps.reached("containers-started")
        containers = [c for c in workload.snapshot() if c.ip]
        names = {c.ip: c.name for c in containers}
        return [
            ctx.timing("image_load_s", start, loaded),
            Deployed(workload, loaded, tuple(names), names),
            ctx.event("workload deployed", identity(workload.spec)),
        ]

    @staticmethod
    def workload(node: Node, cell: Cell, tag: str) -> Workload:
        """The cell's containers on ``node``: what ``run`` deploys and ``plan --commands`` shows."""
        return Workload(node, tag, config_dir=node.work_dir, access_log=cell.access_log, spec=spec_of(cell))

    def describe(self, cell: Cell) -> str:
        spec = spec_of(cell)
        log = f", access log to {cell.access_log}" if cell.workload is None else ""
        return f"load {spec.image.describe()}; {spec.replicas} containers, published ports{log}"


def identity(spec: WorkloadSpec) -> str:
    """How the result tells the containers apart: what the event beside the deploy says."""
    header = f"the {spec.identify} header and " if spec.identify else ""
    return (
        f"{spec.name}: {spec.replicas} containers, told apart by {header}their own address "
        "(a node port each; their container IP on the pod path, which a restart may reassign)"
    )


def spec_of(cell: Cell) -> WorkloadSpec:
    """The cell's workload: its [workloads.<name>], or the seed's nginx with its access log."""
    return cell.workload or seed(cell.access_log)


#: what ``docker run`` says when a published port is taken (docker-proxy's bind, or the
#: daemon's own port allocator)
PORT_TAKEN = ("address already in use", "port is already allocated")


def deploy(workload: Workload) -> None:
    """``Workload.deploy``, with a published port already in use on the node as one line (the
    containers made so far are removed by teardown, like every deployed one)."""
    try:
        workload.deploy()
    except NodeError as exc:
        said = str(exc).rpartition(" failed on the node: ")[2]  # docker's words, not the argv
        if not any(m in said for m in PORT_TAKEN):
            raise
        taken = next((p for p in workload.ports if f":{p}" in said), None)
        port = f"node port {taken}" if taken else f"one of the node ports {workload.ports}"
        raise BadInput(
            f"{port} of the {workload.spec.name} workload is already in use on the node; free it or set "
            f"base_port in [workloads.{workload.spec.name}]"
        ) from None


def load_image(ctx: Context, image_ref: str | None) -> str:
    """The image the cell was given (pulled if absent), else its workload's: the offline-built
    one imported, a tarball loaded, or one that must already be on the node."""
    node = ctx.node
    if image_ref:
        if not node.dockerd.cli("image", "inspect", image_ref).ok:
            node.dockerd.cli_ok("pull", image_ref, timeout=300)
        return image_ref
    spec = spec_of(ctx.cell)
    tag, command = image_source(spec)
    if spec.image.recipe:
        recipe = image.RECIPES[spec.image.recipe]
        node.import_image(str(image.cached_tarball(recipe)), tag, recipe.cmd)
        return tag
    if command and not node.dockerd.cli("image", "inspect", tag).ok:
        if node.scheme != "engine":
            raise BadInput(
                f"the {spec.name} workload's tarball is loaded on engine nodes only; load it on "
                f"{node.scheme} nodes yourself and give ref alone"
            )
        node.dockerd.cli_ok(*command, timeout=300)
    if not node.dockerd.cli("image", "inspect", tag).ok:
        where = f"{spec.image.tarball.path} holds no image" if spec.image.tarball else "the node has no image"
        raise BadInput(
            f"the {spec.name} workload's image is missing: {where} {tag}; fix ref in [workloads.{spec.name}]"
        )
    return tag


def image_source(spec: WorkloadSpec) -> tuple[str, list[str]]:
    """The image a workload's containers run, and the ``docker`` command that puts it on the
    node when it is missing there ([] for an image that must already be there). Shared by
    ``load_image`` and ``plan --commands``; a recipe's import is ``Node.import_image``'s."""
    img = spec.image
    if img.recipe:
        recipe = image.RECIPES[img.recipe]
        return image.image_tag(recipe), import_args(image.TARBALL_NOTE, image.image_tag(recipe), recipe.cmd)
    if img.tarball:
        return img.ref, ["load", "-i", img.tarball.path]
    return img.ref, []


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
        stopped: set[str] = set()
        for path, found in targets(ctx.node, deployed).items():
            if self.when == "recovered":
                answered[path] = self._recovered(ctx, found, netns.get(path), stopped)
                continue
            waited = ctx.services.wait_paths(
                found, timeout, ctx.cell.timings.probe_timeout_s, netns.get(path)
            )
            answered[path] = waited is not None
            if not answered[path]:
                raise NodeError(
                    f"the workload did not answer on the {path} path within {timeout:.0f}s: "
                    + last_answer(found, ctx.cell.timings.probe_timeout_s, netns.get(path))
                )
        if self.when == "recovered":
            return [Recovered(answered, tuple(sorted(stopped)))]
        setup_steps.reached("workload-ready")
        return [ctx.timing("workload_ready_s", deployed.at)]

    def _timeout(self, cell: Cell) -> float:
        return cell.timings.ready_timeout_s if self.when == "ready" else cell.timings.recover_timeout_s

    @staticmethod
    def _recovered(ctx: Context, found: list[Target], netns: str | None, stopped: set[str]) -> bool:
        """Whether every target answered within recover_timeout_s. Every STOPPED_CHECK_S
        unanswered, the daemon is asked which containers it left stopped (added to
        ``stopped``): their targets will not answer, so the wait goes on for the others only."""
        timings, workload = ctx.cell.timings, ctx.evidence.require(Deployed).workload
        end = ctx.clock.now() + timings.recover_timeout_s
        pending = [t for t in found if t.container not in stopped]  # known from an earlier path
        while pending:
            step = min(STOPPED_CHECK_S, max(end - ctx.clock.now(), 0.0))
            if ctx.services.wait_paths(pending, step, timings.probe_timeout_s, netns) is not None:
                break
            if ctx.clock.now() >= end:
                return False
            stopped |= left_stopped(workload)
            pending = [t for t in pending if t.container not in stopped]
        return not any(t.container in stopped for t in found)

    def describe(self, cell: Cell) -> str:
        return until("every endpoint answers on every access path", self._timeout(cell))


def last_answer(found: list[Target], request_timeout: float, netns: str | None) -> str:
    """The first endpoint that still does not answer as expected, and what it answered."""
    last: dict[str, Sample] = {}
    wait_until_ok(found, request_timeout, request_timeout, netns, last)
    for target in found:
        sample = last.get(target.url)
        if sample is not None and not sample.ok:
            what = f"expected {target.expect!r}" if target.expect else "expected a connection"
            if target.send:
                what = f"sent {target.send.rstrip(chr(13) + chr(10))!r}, {what}"  # the line, not its CRLF
            return f"{target.url} ({what}) answered: {sample.error or f'HTTP {sample.status}'}"
    return "every endpoint answered only after the wait"


@dataclass(frozen=True)
class StartProbe(Action):
    """The probe on every path, in the background until teardown."""

    name: ClassVar[str] = "probe"

    def run(self, ctx: Context) -> list[Record]:
        t = ctx.cell.timings
        paths = targets(ctx.node, ctx.evidence.require(Deployed))
        probe = ctx.services.new_probe(paths, t.probe_interval_s, t.probe_timeout_s, netns_for(ctx.node))
        ctx.running.start(PROBE, ProbeRun(probe, ctx.clock.wall()))
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
        ctx.running.start(LOAD, LoadRun(probe, load, ctx.clock.wall()))
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
        probe = ctx.running.get(PROBE, ProbeRun)
        if self.which != "before" or probe is None:
            return [capture(ctx.node, ctx.evidence.require(Deployed).workload, self.which)]
        # the rate is measured from the moment both the probe and any load were sending
        load = ctx.running.get(LOAD, LoadRun)
        since = max(probe.wall0, load.wall0 if load else 0.0)
        if (left := since + ctx.cell.timings.log_rate_min_s - ctx.clock.wall()) > 0:
            ctx.clock.sleep(left)
        snap = capture(ctx.node, ctx.evidence.require(Deployed).workload, self.which)
        pressure = log_pressure.measure(ctx.node, snap.containers, since)
        return [snap, pressure, Timing("log_pressure_s", pressure.measured_s or 0.0)]

    def describe(self, cell: Cell) -> str:
        if self.which != "before":
            return "record the containers and their processes (shim, main process, children)"
        span = f"over at least {cell.timings.log_rate_min_s:g} s" if cell.timings.log_rate_min_s else "so far"
        return (
            "record the containers and their processes (shim, main process, children), "
            f"and their log rate under the probe and any load, {span}"
        )
