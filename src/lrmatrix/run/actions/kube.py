"""The actions of a Kubernetes cell's sequence: the workload as pods, and what the API shows
around the same disruption as any cell (``lrmatrix.run.actions.docker`` has the rest, and ``Action``)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.kube import upstream
from lrmatrix.run.actions.docker import Action, Change, until
from lrmatrix.workload.containers import PodContainers

if TYPE_CHECKING:
    from lrmatrix.kube.steps import KubeCell
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.runner import Scenario


@dataclass(frozen=True)
class DeployPods(Action):
    """The manifests' Deployment + NodePort Service in the cell's namespace; its containers
    on the node are found by cri-dockerd's labels so the process checks apply as well."""

    name: ClassVar[str] = "deploy"
    waits: ClassVar[bool] = True

    def run(self, s: Scenario) -> None:
        from lrmatrix.kube.steps import KubeCell
        from lrmatrix.kube.workload import NODE_PORT

        s.kube = KubeCell(s.cell, s.kube_client(), node=s.node)
        s.kube.setup()
        s.workload = PodContainers(s.node, s.kube.workload.namespace, NODE_PORT)

    def describe(self, cell: Cell) -> str:
        return "apply the Deployment and NodePort Service; the pods " + until(
            "Ready", cell.timings.ready_timeout_s
        )


class KubeAction(Action):
    """An action on the cell's Kubernetes side, which ``DeployPods`` set up."""

    name: ClassVar[str] = "kube"

    def run(self, s: Scenario) -> None:
        assert s.kube is not None, "the Kubernetes side was not set up"
        self.on(s.kube, s)

    @abstractmethod
    def on(self, kube: KubeCell, s: Scenario) -> None:
        """Do it through the API (``kube``), recording on ``kube`` or ``s``."""


@dataclass(frozen=True)
class KubeBaseline(KubeAction):
    def on(self, kube: KubeCell, s: Scenario) -> None:
        kube.baseline()

    def describe(self, cell: Cell) -> str:
        return "read the node's Ready condition and the pods through the API"


@dataclass(frozen=True)
class KubeOutage(KubeAction):
    """A new pod, the pods and the node, until the window ends; nothing through the API when
    the API server died with dockerd."""

    waits: ClassVar[bool] = True

    def on(self, kube: KubeCell, s: Scenario) -> None:
        assert s.stopped_at is not None
        kube.outage(s.stopped_at)

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

    def on(self, kube: KubeCell, s: Scenario) -> None:
        kube.after()

    def describe(self, cell: Cell) -> str:
        from lrmatrix.kube.settings import KubeSettings

        t, pending = cell.timings, KubeSettings.load().pending_timeout_s
        pod = f"; the outage pod {until('Running', pending)}, then deleted" if cell.live_restore else ""
        node, pods = until("node Ready", t.recover_timeout_s), until("the pods are Ready", t.ready_timeout_s)
        return f"{node}; {pods}{pod}"


@dataclass(frozen=True)
class KubeChange(Change):
    """ConfigMap patch + rollout restart, waited for."""

    waits: ClassVar[bool] = True

    def apply(self, s: Scenario) -> None:
        assert s.kube is not None
        s.kube.change()

    def describe(self, cell: Cell) -> str:
        from lrmatrix.kube.settings import KubeSettings

        done = until("the rollout is done", KubeSettings.load().rollout_timeout_s)
        return f"patch the ConfigMap and restart the rollout, {done}"


@dataclass(frozen=True)
class KubeTeardown(KubeAction):
    name: ClassVar[str] = "kubernetes_teardown"

    def on(self, kube: KubeCell, s: Scenario) -> None:
        kube.teardown()

    def describe(self, cell: Cell) -> str:
        return "delete the cell's namespace"
