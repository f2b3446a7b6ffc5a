"""A Kubernetes workload's manifests: the folder (or file) of Deployments, Services and
ConfigMaps a cell applies into its namespace, read and checked before anything is applied.

What the run needs is read from them, never assumed: the pods to wait for (each Deployment's
``matchLabels`` and replicas), the containers to watch on the node (the pod template's
container names) and where the probe reaches them (the Services' NodePorts). An endpoint's
``port`` names the Service port it uses (its ``port`` or ``targetPort``); with one NodePort in
the folder it needs none. Anything the harness could not apply or probe is one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lrmatrix import parsed
from lrmatrix.errors import BadInput, EnvironmentProblem
from lrmatrix.kube.api import KINDS


class Endpoint(Protocol):
    """What is read of a workload's endpoint (``lrmatrix.workload.spec.Endpoint``, which
    imports this module: named by shape, so there is no import circle)."""

    @property
    def port(self) -> int: ...

    def label(self) -> str: ...


class Manifests(Protocol):
    """A workload's ``manifests`` key (``lrmatrix.workload.spec.Manifests``)."""

    @property
    def path(self) -> str: ...
    @property
    def named(self) -> str: ...
    @property
    def where(self) -> str: ...
    @property
    def change(self) -> str: ...
    @property
    def change_named(self) -> str: ...
    @property
    def change_endpoints(self) -> Sequence[Endpoint]: ...


E = TypeVar("E", bound=Endpoint)

#: the kinds a change overlay may hold: its ConfigMaps' data replaces the applied ones'
CHANGE_KINDS = ("ConfigMap",)
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Deployment:
    """What the run reads of one Deployment: its pods (selector, replicas) and containers."""

    name: str
    replicas: int
    selector: str  # matchLabels as a label selector, k=v[,k=v]
    containers: tuple[str, ...]
    image: str  # its first container's: the node has it once the pods run
    #: named containerPorts of its pod template (a Service's targetPort may name one)
    ports: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class NodePort:
    """One port of a Service: a client outside the node reaches it on ``node_port``."""

    service: str
    port: int
    target: int | str
    node_port: int

    def describe(self) -> str:
        return f"{self.service} {self.port} -> NodePort {self.node_port}"


@dataclass(frozen=True)
class ManifestSet:
    """The documents applied (in file, then document order) and what the run reads of them."""

    where: str
    docs: tuple[dict[str, Any], ...]
    deployments: tuple[Deployment, ...]
    node_ports: tuple[NodePort, ...]
    #: the change overlay's documents (empty: the workload has no change step)
    change: tuple[dict[str, Any], ...] = ()

    @property
    def replicas(self) -> int:
        return sum(d.replicas for d in self.deployments)

    @property
    def containers(self) -> tuple[str, ...]:
        """Container names of every pod template, each once: cri-dockerd labels them so."""
        return tuple(dict.fromkeys(c for d in self.deployments for c in d.containers))

    def named_ports(self) -> dict[str, int]:
        return {name: number for d in self.deployments for name, number in d.ports}

    def node_port(self, port: int, named: str) -> int:
        """The NodePort an endpoint is probed on: of the Service port whose ``port`` or
        ``targetPort`` is ``port`` (0: the folder's only NodePort)."""
        named_ports = self.named_ports()

        def target(p: NodePort) -> int | None:
            return named_ports.get(p.target) if isinstance(p.target, str) else p.target

        found = [p for p in self.node_ports if not port or port in (p.port, target(p))]
        distinct = sorted({p.node_port for p in found})
        if len(distinct) == 1:
            return distinct[0]
        known = "; ".join(p.describe() for p in self.node_ports)
        if not found:
            raise BadInput(
                f"{named}: port = {port} is no Service's port or targetPort in {self.where} ({known})"
            )
        raise BadInput(
            f"{named}: {self.where} has several NodePorts ({known}); say which with port = "
            "the Service's port or targetPort"
        )

    def probed(self, endpoints: Sequence[E], where: str) -> tuple[E, ...]:
        """The endpoints, each with the NodePort it is probed on."""
        return tuple(
            replace(e, node_port=self.node_port(e.port, f"{where} endpoint {e.label()}")) for e in endpoints
        )  # type: ignore[type-var]


def files(path: Path, named: str) -> list[Path]:
    """The YAML files of a folder (sorted; not its subfolders), or the one file named."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInput(f"{named}: no such folder or file ({path}); fix the path")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not found:
        raise BadInput(f"{named}: no .yaml or .yml file in {path}")
    return found


def documents(path: Path, named: str, kinds: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) of every non-empty document, each of a kind in ``kinds``."""
    try:
        import yaml  # comes with the kubernetes extra
    except ImportError:
        raise EnvironmentProblem("manifests need PyYAML: pip install 'lrmatrix[kubernetes]'") from None
    out: list[tuple[str, dict[str, Any]]] = []
    for file in files(path, named):
        try:
            docs = [d for d in parsed.yaml_documents(file.read_text()) if d is not None]
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{named}: cannot read {file}: {exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" line {mark.line + 1}" if mark is not None else ""
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise BadInput(f"{named}: {file}{at} is not YAML: {what}") from None
        for doc in docs:
            out.append((file.name, checked(doc, f"{named}: {file.name}", kinds)))
    return out


def checked(doc: object, where: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    """A document the API takes into the cell's namespace, of a kind the harness applies."""
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise BadInput(f"{where}: a document is not a Kubernetes object (no kind)")
    kind = doc["kind"]
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise BadInput(f"{where}: a {kind} has no metadata.name")
    if kind not in kinds:
        raise BadInput(
            f"{where}: {kind}/{meta['name']}: lrmatrix does not apply {kind}; it applies {', '.join(kinds)}"
        )
    if "namespace" in meta:
        raise BadInput(
            f"{where}: {kind}/{meta['name']} sets metadata.namespace; "
            "remove it (each cell applies into its own)"
        )
    return doc


def deployment(doc: dict[str, Any], where: str) -> Deployment:
    name = doc["metadata"]["name"]
    spec = doc.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if not labels:
        raise BadInput(
            f"{where}: Deployment/{name} has no spec.selector.matchLabels; the run finds its pods by them"
        )
    listed = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    template = [c for c in listed if isinstance(c, dict)]
    containers = tuple(str(c["name"]) for c in template if c.get("name"))
    if not containers:
        raise BadInput(f"{where}: Deployment/{name} has no named container in its pod template")
    ports = tuple(
        (str(p["name"]), int(p["containerPort"]))
        for c in template
        for p in (c.get("ports") or [])
        if isinstance(p, dict) and p.get("name") and isinstance(p.get("containerPort"), int)
    )
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 1:
        raise BadInput(f"{where}: Deployment/{name} replicas = {replicas!r}; the run needs at least 1 pod")
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return Deployment(name, replicas, selector, containers, str(template[0].get("image", "")), ports)


def node_ports(doc: dict[str, Any], where: str) -> list[NodePort]:
    """Every port of a NodePort Service, each with its nodePort given."""
    name = doc["metadata"]["name"]
    spec = doc.get("spec") or {}
    ports = spec.get("ports") or []
    if spec.get("type") != "NodePort" or not ports:
        raise BadInput(
            f"{where}: Service/{name} is no NodePort Service (type: NodePort with ports); "
            "the probe reaches the workload through its nodePort"
        )
    found = []
    for p in ports:
        node_port = p.get("nodePort") if isinstance(p, dict) else None
        number = p.get("port") if isinstance(p, dict) else p
        if not isinstance(number, int):
            raise BadInput(f"{where}: Service/{name} has a port without a numeric port: {p!r}")
        if not isinstance(node_port, int):
            raise BadInput(
                f"{where}: Service/{name} port {number} has no nodePort; "
                "give one (30000-32767) so the probe knows where to reach it"
            )
        found.append(NodePort(name, number, p.get("targetPort", number), node_port))
    return found


def read(path: Path, named: str, change: Path | None = None, change_named: str = "") -> ManifestSet:
    """The manifests at ``path`` (a folder or one file) and the change overlay, checked."""
    docs = documents(path, named, tuple(KINDS))
    deployments = [deployment(d, f"{named}: {f}") for f, d in docs if d["kind"] == "Deployment"]
    services = [(f, d) for f, d in docs if d["kind"] == "Service"]
    if not services:
        raise BadInput(
            f"{named}: no Service in {path}; the NodePort(s) to probe are read from a NodePort Service"
        )
    if not deployments:
        raise BadInput(
            f"{named}: no Deployment in {path}; the pods and containers to watch are read from one"
        )
    overlay: list[tuple[str, dict[str, Any]]] = []
    if change is not None:
        overlay = documents(change, change_named, CHANGE_KINDS)
        applied = {d["metadata"]["name"] for _, d in docs if d["kind"] == "ConfigMap"}
        for f, d in overlay:
            if d["metadata"]["name"] not in applied:
                raise BadInput(
                    f"{change_named}: {f}: ConfigMap/{d['metadata']['name']} is not in {path}; "
                    "the change replaces the data of a ConfigMap the manifests apply"
                )
    return ManifestSet(
        where=str(path),
        docs=tuple(d for _, d in docs),
        deployments=tuple(deployments),
        node_ports=tuple(p for f, d in services for p in node_ports(d, f"{named}: {f}")),
        change=tuple(d for _, d in overlay),
    )


def of(manifests: Manifests) -> ManifestSet:
    """A workload's ``manifests`` key (and its overlay) read."""
    change = Path(manifests.change) if manifests.change else None
    return read(Path(manifests.path), manifests.named, change, manifests.change_named)


def problem(manifests: Manifests, endpoints: Sequence[Endpoint]) -> str | None:
    """Why the manifests cannot be applied and probed; None when they can."""
    try:
        found = of(manifests)
        found.probed(endpoints, manifests.where)
        found.probed(manifests.change_endpoints, f"{manifests.where} change")
    except BadInput as exc:
        return str(exc)
    return None
