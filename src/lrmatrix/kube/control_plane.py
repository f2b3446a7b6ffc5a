"""Waiting for the control plane after dockerd was restarted on a minikube node.

With ``--container-runtime=docker`` kube-apiserver, etcd, the scheduler and the
controller-manager are kubeadm static pods, i.e. Docker containers: a restart of dockerd
without live-restore kills them and the kubelet starts them again. Until the API server
answers ``/readyz``, the node is Ready and every static pod is Running and Ready, nothing
that uses the API may run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.kube import upstream
from lrmatrix.kube.api import Kube
from lrmatrix.kube.workload import PodState

SELECTOR = "tier=control-plane"


@dataclass
class ControlPlaneWait:
    """One wait: seconds until each stage was reached (None: not reached), and why it ended."""

    readyz_s: float | None = None
    node_ready_s: float | None = None
    static_pods_s: float | None = None
    last: str = ""
    static_pods: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def static_pods_ready(kube: Kube) -> tuple[bool, list[str]]:
    """All of kubeadm's static pods present, Running and Ready; their states either way."""
    found = kube.core.list_namespaced_pod("kube-system", label_selector=SELECTOR).items
    pods = {(p.metadata.labels or {}).get("component", ""): PodState.from_pod(p) for p in found}
    states = [f"{c}: {pods[c].phase}{'/Ready' if pods[c].ready else ''}" if c in pods else f"{c}: missing"
              for c in upstream.STATIC_PODS]  # fmt: skip
    ok = all(c in pods and pods[c].phase == "Running" and pods[c].ready for c in upstream.STATIC_PODS)
    return ok, states


def node_ready(kube: Kube) -> bool:
    nodes = kube.core.list_node().items
    conds = [c for n in nodes for c in (n.status.conditions or []) if c.type == "Ready"]
    return len(nodes) == 1 and bool(conds) and conds[0].status == "True"


def wait_control_plane(kube: Kube, timeout: float, poll_s: float) -> ControlPlaneWait:
    """Poll /readyz, then the node's Ready, then the static pods, within one deadline; a stage
    reached moves on to the next at once, without waiting out the interval."""
    clock = kube.runner.clock
    start = clock.now()
    done = ControlPlaneWait()

    def since_start() -> float:
        return round(clock.now() - start, 3)

    def back() -> bool:
        if done.readyz_s is None:
            done.last = kube.readyz()
            if done.last != "ok":
                return False
            done.readyz_s = since_start()
        if done.node_ready_s is None:
            if not node_ready(kube):
                done.last = "node not Ready"
                return False
            done.node_ready_s = since_start()
        ok, done.static_pods = static_pods_ready(kube)
        if not ok:
            done.last = "; ".join(done.static_pods)
            return False
        done.static_pods_s = since_start()
        return True

    if not poll(back, timeout, poll_s, clock):
        raise NodeError(f"the control plane was not back within {timeout:.0f}s: {done.last}")
    return done
