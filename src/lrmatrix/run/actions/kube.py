"""The actions of a Kubernetes cell's sequence: the workload as pods, and what the API shows
around the same disruption as any cell (the other actions are shared with every node)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.evidence.records import Deployed, Record, Stopped
from lrmatrix.kube import upstream
from lrmatrix.kube.records import KubeObservations, KubeSession
from lrmatrix.run.actions.base import Action, until
from lrmatrix.run.actions.change import NO_CHANGE, Change
from lrmatrix.workload.containers import PodContainers

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.kube.steps import KubeCell
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class DeployPods(Action):
    """The manifests' Deployments, Services and ConfigMaps in the cell's namespace; their
    containers on the node are found by cri-dockerd's labels so the process checks apply as
    well, and the endpoints are probed on the NodePorts the Services give."""

    name: ClassVar[str] = "deploy"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        from lrmatrix.kube.steps import KubeCell

        kube = KubeCell(ctx.cell, ctx.services.kube_client(ctx.node), node=ctx.node)
        ctx.evidence.add(KubeSession(kube))  # before it is made: teardown deletes what it made
        kube.setup()
        return [Deployed(pod_containers(ctx.node, ctx.cell, kube), ctx.clock.now())]

    def describe(self, cell: Cell) -> str:
        folder = manifests_of(cell)
        what = f"the manifests of {folder}" if folder else "the Deployment and NodePort Service"
        return f"apply {what}; the pods " + until("Ready", cell.timings.ready_timeout_s)


def manifests_of(cell: Cell) -> str:
    """The workload's own manifests folder; "" for the seed's nginx-web."""
    spec = cell.workload
    return spec.manifests.path if spec is not None and spec.manifests is not None else ""


def pod_containers(node: Node, cell: Cell, kube: KubeCell) -> PodContainers:
    """What the probe and the process checks read of the deployed workload: the seed's nginx on
    its NodePort, or the cell's workload with each endpoint on the NodePort its Service gives."""
    from lrmatrix.kube.workload import NODE_PORT

    workload = kube.workload
    spec, read = cell.workload, workload.manifests
    if spec is None or spec.manifests is None:
        return PodContainers(node, workload.namespace, NODE_PORT)
    probed = replace(spec, endpoints=read.probed(spec.endpoints, spec.manifests.where))
    ports = list(dict.fromkeys(e.node_port for e in probed.endpoints))
    first = read.deployments[0].image
    return PodContainers(node, workload.namespace, ports, read.replicas, probed, read.containers, first)


class KubeAction(Action):
    """An action on the cell's Kubernetes side, which ``DeployPods`` set up."""

    name: ClassVar[str] = "kube"

    def run(self, ctx: Context) -> list[Record]:
        return self.on(ctx.evidence.require(KubeSession).kube, ctx)

    @abstractmethod
    def on(self, kube: KubeCell, ctx: Context) -> list[Record]:
        """Do it through the API (``kube``, which keeps what it saw); records of the run's own."""


@dataclass(frozen=True)
class KubeBaseline(KubeAction):
    def on(self, kube: KubeCell, ctx: Context) -> list[Record]:
        kube.baseline()
        return []

    def describe(self, cell: Cell) -> str:
        return "read the node's Ready condition and the pods through the API"


@dataclass(frozen=True)
class KubeOutage(KubeAction):
    """A new pod, the pods and the node, until the window ends; nothing through the API when
    the API server died with dockerd."""

    waits: ClassVar[bool] = True

    def on(self, kube: KubeCell, ctx: Context) -> list[Record]:
        stopped = ctx.evidence.require(Stopped)
        assert stopped.stopped_at is not None
        kube.outage(stopped.stopped_at)
        return []

    def waits_in(self, cell: Cell) -> bool:
        return cell.live_restore  # without it the API is down: nothing to wait for

    def describe(self, cell: Cell) -> str:
        if not cell.live_restore:
            return "no API calls until docker is back (the API server dies with dockerd)"
        window = until("the outage window ends", cell.timings.outage_window_s)
        evict = (
            f"; eviction accepted: pods may be evicted once the node is tainted for "
            f"{upstream.NOT_READY_TOLERATION_S:g} s"
            if cell.accept_eviction
            else ""
        )
        return f"create a pod and watch it and the node's Ready condition, {window}{evict}"


@dataclass(frozen=True)
class KubeAfter(KubeAction):
    """Node Ready again, pods Ready, the outage pod Running (then removed)."""

    waits: ClassVar[bool] = True

    def on(self, kube: KubeCell, ctx: Context) -> list[Record]:
        kube.after()
        return []

    def describe(self, cell: Cell) -> str:
        from lrmatrix.kube.settings import KubeSettings

        t, pending = cell.timings, KubeSettings.load().pending_timeout_s
        pod = f"; the outage pod {until('Running', pending)}, then deleted" if cell.live_restore else ""
        node, pods = until("node Ready", t.recover_timeout_s), until("the pods are Ready", t.ready_timeout_s)
        return f"{node}; {pods}{pod}"


@dataclass(frozen=True)
class KubeChange(Change):
    """The overlay's ConfigMaps patched in + rollout restart, waited for; nothing for a
    workload whose manifests come without a change overlay."""

    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        if not ctx.evidence.require(KubeSession).kube.workload.has_change:
            return [ctx.event(NO_CHANGE)]
        return super().run(ctx)

    def apply(self, ctx: Context) -> None:
        ctx.evidence.require(KubeSession).kube.change()

    def describe(self, cell: Cell) -> str:
        from lrmatrix.kube.settings import KubeSettings

        spec = cell.workload
        if spec is not None and spec.manifests is not None and not spec.manifests.change:
            return NO_CHANGE
        done = until("the rollout is done", KubeSettings.load().rollout_timeout_s)
        return f"patch the ConfigMap and restart the rollout, {done}"


@dataclass(frozen=True)
class KubeTeardown(Action):
    """The cell's namespace deleted, whatever happened; what the API showed is kept."""

    name: ClassVar[str] = "kubernetes_teardown"

    def run(self, ctx: Context) -> list[Record]:
        session = ctx.evidence.last(KubeSession)
        if session is None:
            return []
        kube = session.kube
        observed = KubeObservations(kube.summary(), kube.findings())
        ctx.evidence.add(observed)  # kept even if the deletion fails
        kube.teardown()
        return []

    def describe(self, cell: Cell) -> str:
        return "delete the cell's namespace"
