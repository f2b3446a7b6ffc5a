"""The workload on Kubernetes: its manifests (the seed's ``manifests/nginx-web.yaml``, or a
workload's own folder) applied into one namespace per cell.

Pod state is reduced to what the matrix compares across the outage (Ready, restart counts,
identity), so checks and results do not depend on the client's model classes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrmatrix import parsed
from lrmatrix.deadline import poll
from lrmatrix.errors import EnvironmentProblem, NodeError
from lrmatrix.kube.api import Kube
from lrmatrix.kube.manifests import ManifestSet, read
from lrmatrix.kube.settings import KubeSettings, project_dir
from lrmatrix.timestamps import iso

MANIFEST = "nginx-web.yaml"
CHANGE = "config-change.yaml"
DEPLOYMENT = "nginx-web"
NODE_PORT = 30081
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def manifests_dir() -> Path:
    env = os.environ.get("LRMATRIX_MANIFESTS")
    return Path(env) if env else project_dir() / "manifests"


def seed_manifests(folder: Path | None = None) -> ManifestSet:
    """The seed's nginx: ``nginx-web.yaml`` and its config-change overlay."""
    where = folder or manifests_dir()
    return read(where / MANIFEST, f"manifests/{MANIFEST}", where / CHANGE, f"manifests/{CHANGE}")


def load_manifest(name: str, folder: Path | None = None) -> list[dict[str, Any]]:
    """Every document of one manifest file, in file order (the order they are applied)."""
    path = (folder or manifests_dir()) / name
    try:
        import yaml  # comes with the kubernetes extra
    except ImportError:
        raise EnvironmentProblem("manifests need PyYAML: pip install 'lrmatrix[kubernetes]'") from None
    try:
        return [d for d in parsed.yaml_documents(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise NodeError(f"cannot read manifest {path}: {exc}") from exc


@dataclass(frozen=True)
class PodState:
    """One pod as the API reports it."""

    name: str
    uid: str
    phase: str
    ready: bool
    restarts: int
    ip: str
    waiting: str

    @classmethod
    def from_pod(cls, pod: Any) -> PodState:
        status = pod.status
        conditions = status.conditions or []
        containers = status.container_statuses or []
        waiting = [c.state.waiting.reason for c in containers if c.state and c.state.waiting]
        return cls(
            name=pod.metadata.name,
            uid=pod.metadata.uid or "",
            phase=status.phase or "",
            ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
            restarts=sum(c.restart_count or 0 for c in containers),
            ip=status.pod_ip or "",
            waiting=",".join(w for w in waiting if w),
        )


class KubeWorkload:
    """Deploy, observe, change and remove the manifests' workload (default: the seed's
    nginx-web) in ``namespace``."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        settings: KubeSettings,
        folder: Path | None = None,
        manifests: ManifestSet | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.settings = settings
        self.manifests = manifests or seed_manifests(folder)

    @property
    def names(self) -> str:
        return ", ".join(d.name for d in self.manifests.deployments)

    def deploy(self) -> None:
        self.kube.core.create_namespace(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": {"app.kubernetes.io/part-of": "lrmatrix"}},
            }
        )
        for doc in self.manifests.docs:
            self.kube.create(doc, self.namespace)

    def pods(self) -> list[PodState]:
        """Pods of the Deployments (by their matchLabels) that are not being deleted, by name."""
        live = {}
        for dep in self.manifests.deployments:
            found = self.kube.core.list_namespaced_pod(self.namespace, label_selector=dep.selector)
            live.update({p.metadata.name: p for p in found.items if p.metadata.deletion_timestamp is None})
        return sorted((PodState.from_pod(p) for p in live.values()), key=lambda p: p.name)

    def wait_ready(self, timeout: float, replicas: int | None = None) -> list[PodState]:
        """Poll until exactly ``replicas`` pods (default: the Deployments') are Ready; their state then."""
        seen: list[PodState] = []
        if replicas is None:
            replicas = self.manifests.replicas

        def all_ready() -> bool:
            seen[:] = self.pods()
            return len(seen) == replicas and all(p.ready for p in seen)

        if not poll(all_ready, timeout, self.settings.node_poll_s, self.kube.runner.clock):
            raise NodeError(
                f"{sum(p.ready for p in seen)}/{replicas} {self.names} pods Ready after {timeout:.0f}s"
            )
        return seen

    @property
    def has_change(self) -> bool:
        return bool(self.manifests.change)

    def apply_change(self) -> None:
        """The overlay's ConfigMaps patched in, every Deployment's ``rollout restart``, each
        rollout waited for (the seed's: nginx-web-config, then nginx-web)."""
        for doc in self.manifests.change:
            self.kube.core.patch_namespaced_config_map(
                doc["metadata"]["name"], self.namespace, {"data": doc.get("data") or {}}
            )
        stamp = iso(self.kube.runner.wall(), "seconds")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        for dep in self.manifests.deployments:
            self.kube.apps.patch_namespaced_deployment(dep.name, self.namespace, patch)
        for dep in self.manifests.deployments:
            self.wait_rollout(self.settings.rollout_timeout_s, dep.name)

    def wait_rollout(self, timeout: float, name: str = DEPLOYMENT) -> None:
        """What ``kubectl rollout status`` waits for: the new template fully updated and available."""

        def rolled_out() -> bool:
            dep = self.kube.apps.read_namespaced_deployment(name, self.namespace)
            want = dep.spec.replicas or 0
            st = dep.status
            return (
                (st.observed_generation or 0) >= (dep.metadata.generation or 0)
                and (st.updated_replicas or 0) == want
                and (st.replicas or 0) == want
                and (st.available_replicas or 0) == want
            )

        if not poll(rolled_out, timeout, self.settings.node_poll_s, self.kube.runner.clock):
            raise NodeError(f"rollout of {name} did not finish within {timeout:.0f}s")

    def remove(self) -> None:
        """Deleting the namespace removes everything the cell created in it."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.kube.core.delete_namespace(self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
