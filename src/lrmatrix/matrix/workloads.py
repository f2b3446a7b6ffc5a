"""``[workloads.<name>]``: the schema of a workload table and the specs made of it.

The tables are validated with the rest of matrix.toml (``lrmatrix.matrix.schema``: types,
ranges, unknown keys); what only a whole table can say (one image source, an HTTP endpoint has
a path and a TCP one none, the files exist beside the matrix) is checked here, one line each,
before anything touches a node.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from lrmatrix.errors import BadInput
from lrmatrix.matrix.table import Table
from lrmatrix.workload.spec import (
    SEED,
    Change,
    Endpoint,
    Image,
    Manifests,
    Mount,
    Observe,
    Source,
    WorkloadSpec,
)

WORKLOAD_NAME = r"^[a-z][a-z0-9_-]*$"
#: the recipes shipped in the package (lrmatrix.workload.image.RECIPES)
Recipe = Literal["nginx", "redis"]
Port = Annotated[int, Field(ge=1, le=65535)]
ContainerPath = Annotated[str, Field(pattern=r"^/[^\s:]+$", max_length=400)]
Argv = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4000)]], Field(min_length=1, max_length=50)
]
#: a file mounted into a container or a tarball: a config, not a data set
MAX_FILE_BYTES = 1 << 20
#: node port published per replica of a user workload: its own address, its identity
NODE_PORTS = (1024, 65000)


class EndpointTable(Table):
    """One endpoint: HTTP (``path``, ``status``, ``body``) or TCP (``port``, ``send``, ``expect``)."""

    protocol: Literal["http", "tcp"] = "http"
    path: Annotated[str, Field(pattern=r"^/[^\s]*$", max_length=2000)] | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    body: Annotated[str, Field(max_length=2000)] | None = None
    port: Port | None = None
    send: Annotated[str, Field(pattern=r"^[^\r\n]*$", max_length=2000)] | None = None
    expect: Annotated[str, Field(max_length=2000)] | None = None


class ChangeTable(Table):
    """The config change: ``file`` (a container path of one of ``files``) rewritten from
    ``source`` (beside the matrix), ``reload`` run in each container, then ``endpoints``."""

    file: ContainerPath
    source: Annotated[str, Field(min_length=1, max_length=400)]
    reload: Argv
    endpoints: Annotated[list[EndpointTable], Field(min_length=1, max_length=20)]


class ObserveTable(Table):
    """``observe``: the user's running containers by ``names`` or by ``label`` ("key=value")."""

    names: (
        Annotated[
            list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=128)]],
            Field(min_length=1, max_length=20),
        ]
        | None
    ) = None
    label: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*=\S*$", max_length=300)] | None = None


#: the harness's own label prefix: a selector on it would pick the cell's containers
OWN_LABELS = "io.lrmatrix."


class WorkloadTable(Table):
    """``[workloads.<name>]``: what runs on the node and how it is probed."""

    description: str = ""
    recipe: Recipe | None = None
    tarball: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    ref: Annotated[str, Field(pattern=r"^[a-z0-9][A-Za-z0-9._/:@-]*$", max_length=255)] | None = None
    command: Argv | None = None
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(default_factory=dict)
    replicas: Annotated[int, Field(ge=1, le=8)] = 2
    #: the container port (a manifests workload: the Service port its endpoints use by default)
    port: Port | None = None
    base_port: Annotated[int, Field(ge=NODE_PORTS[0], le=NODE_PORTS[1])] = 8081
    files: dict[ContainerPath, Annotated[str, Field(min_length=1, max_length=400)]] = Field(
        default_factory=dict
    )
    endpoints: Annotated[list[EndpointTable], Field(min_length=1, max_length=20)]
    identify: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$", max_length=100)] = ""
    change: ChangeTable | None = None
    #: Kubernetes: the user's own manifests (a folder or one file beside the matrix) instead of an
    #: image; an overlay the change phase applies, and the endpoints that must answer after it
    manifests: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    change_manifests: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    change_endpoints: Annotated[list[EndpointTable], Field(min_length=1, max_length=20)] | None = None
    observe: ObserveTable | None = None


#: the keys of a workload whose containers the harness runs itself; manifests say these
CONTAINER_KEYS = ("recipe", "tarball", "ref", "command", "env", "replicas", "base_port", "files", "change")
MANIFEST_KEYS = ("change_manifests", "change_endpoints")
#: observe mode: every key that would create, change or deploy a container
NOT_WITH_OBSERVE = (*CONTAINER_KEYS, "port", "manifests", *MANIFEST_KEYS)


def specs(tables: dict[str, WorkloadTable], folder: Path, where: str) -> dict[str, WorkloadSpec]:
    """The matrix's own workloads (the seed's nginx, ``SEED``, is no table: it is the default)."""
    if SEED in tables:
        raise BadInput(
            f"{where} [workloads.{SEED}]: {SEED!r} is the seed's workload, the default; rename the table"
        )
    return {name: spec(name, table, folder, f"{where} [workloads.{name}]") for name, table in tables.items()}


def spec(name: str, t: WorkloadTable, folder: Path, where: str) -> WorkloadSpec:
    """One table as a spec; its files named beside the matrix (read when deployed)."""
    if t.observe is not None:
        return observed(name, t, where)
    if t.manifests is not None:
        return manifests_spec(name, t, folder, where)
    if given := [k for k in MANIFEST_KEYS if k in t.model_fields_set]:
        raise BadInput(f"{where}: {given[0]} is for a workload with manifests (Kubernetes); remove it")
    if t.port is None:
        raise BadInput(f"{where}: port is required: the container port its endpoints and published ports use")
    files: dict[str, bytes | Source] = {
        f"files{path}": beside(folder, source, f"{where}: files.{path!r}", MAX_FILE_BYTES)
        for path, source in t.files.items()
    }
    change = None
    if t.change is not None:
        c = t.change
        if c.file not in t.files:
            raise BadInput(
                f"{where} change: file = {c.file!r} is not one of the workload's files; "
                "mount it with files first"
            )
        content = beside(folder, c.source, f"{where} change: source", MAX_FILE_BYTES)
        endpoints = tuple(
            endpoint(e, t.port, f"{where} change.endpoints[{i}]") for i, e in enumerate(c.endpoints)
        )
        change = Change(f"files{c.file}", content, tuple(c.reload), endpoints)
    return WorkloadSpec(
        name=name,
        image=image(t, folder, where),
        port=t.port,
        endpoints=tuple(endpoint(e, t.port, f"{where} endpoints[{i}]") for i, e in enumerate(t.endpoints)),
        replicas=t.replicas,
        base_port=t.base_port,
        command=tuple(t.command or ()),
        env=dict(t.env),
        files=files,
        mounts=tuple(Mount(f"files{path}", path) for path in t.files),
        identify=t.identify,
        change=change,
    )


def manifests_spec(name: str, t: WorkloadTable, folder: Path, where: str) -> WorkloadSpec:
    """A Kubernetes workload: its manifests (read and checked when its cell is chosen) and the
    endpoints probed on the NodePorts of their Services."""
    if given := [k for k in CONTAINER_KEYS if k in t.model_fields_set]:
        raise BadInput(
            f"{where}: {given[0]} is for engine and ssh workloads; with manifests, the Deployment says it"
        )
    if t.change_endpoints is not None and t.change_manifests is None:
        raise BadInput(f"{where}: change_endpoints need change_manifests (the overlay the change applies)")
    port = t.port or 0
    endpoints = tuple(service_endpoint(e, port, f"{where} endpoints[{i}]") for i, e in enumerate(t.endpoints))
    change_endpoints = endpoints
    if t.change_endpoints is not None:
        change_endpoints = tuple(
            service_endpoint(e, port, f"{where} change_endpoints[{i}]")
            for i, e in enumerate(t.change_endpoints)
        )
    resolved = beside(folder, t.manifests or "", f"{where}: manifests")
    change = beside(folder, t.change_manifests, f"{where}: change_manifests") if t.change_manifests else None
    return WorkloadSpec(
        name=name,
        image=Image(),
        port=port,
        endpoints=endpoints,
        identify=t.identify,
        manifests=Manifests(
            path=resolved.path,
            named=resolved.named,
            where=where,
            change=change.path if change else "",
            change_named=change.named if change else "",
            change_endpoints=change_endpoints if change else (),
        ),
    )


def service_endpoint(e: EndpointTable, port: int, where: str) -> Endpoint:
    """An endpoint of a manifests workload: HTTP or TCP as anywhere, and its ``port`` names the
    Service port it is reached by (its port or targetPort; default the workload's)."""
    plain = endpoint(e.model_copy(update={"port": None}), 0, where)
    return replace(plain, port=e.port or port)


def observed(name: str, t: WorkloadTable, where: str) -> WorkloadSpec:
    """Observe mode: a selector and endpoints on node ports, nothing the harness would create."""
    given = [k for k in NOT_WITH_OBSERVE if k in t.model_fields_set]
    if given:
        raise BadInput(
            f"{where}: {given[0]} is not allowed with observe: the observed containers are yours, "
            "already running; the harness never creates, changes or removes them"
        )
    o = t.observe
    assert o is not None
    if (o.names is None) == (o.label is None):
        raise BadInput(f'{where}: observe takes names = ["..."] or label = "key=value", exactly one')
    if o.label is not None and o.label.startswith(OWN_LABELS):
        raise BadInput(
            f"{where}: observe.label {o.label!r} is lrmatrix's own label; name your containers' label"
        )
    return WorkloadSpec(
        name=name,
        image=Image(),
        port=0,
        endpoints=tuple(endpoint(e, None, f"{where} endpoints[{i}]") for i, e in enumerate(t.endpoints)),
        identify=t.identify,
        observe=Observe(tuple(o.names or ()), o.label or ""),
    )


def image(t: WorkloadTable, folder: Path, where: str) -> Image:
    """Exactly one image source; a tarball exists and names the ``ref`` inside it."""
    sources = [k for k in ("recipe", "tarball") if getattr(t, k) is not None]
    if t.ref is not None and not sources:
        sources = ["ref"]
    if len(sources) != 1:
        said = " and ".join(sources) if sources else "none"
        raise BadInput(
            f"{where}: give exactly one image: recipe (nginx, redis), tarball + ref (a docker save file "
            f"beside the matrix) or ref (an image on the node); it has {said}"
        )
    if t.recipe is not None:
        if t.ref is not None:
            raise BadInput(f"{where}: ref names the image of a tarball or the node; remove it beside recipe")
        return Image(recipe=t.recipe)
    if t.tarball is not None:
        if t.ref is None:
            raise BadInput(
                f"{where}: tarball needs ref = the image reference inside it (docker save's argument)"
            )
        return Image(tarball=beside(folder, t.tarball, f"{where}: tarball"), ref=t.ref)
    return Image(ref=str(t.ref))


def endpoint(e: EndpointTable, port: int | None, where: str) -> Endpoint:
    """An HTTP endpoint has a path (and may say status and body), a TCP one none. ``port`` None:
    observe mode, where each endpoint names the node port it is reached on (HTTP or TCP)."""
    http_keys = [k for k in ("path", "status", "body") if getattr(e, k) is not None]
    tcp_keys = [k for k in ("port", "send", "expect") if getattr(e, k) is not None]
    if port is None:
        if e.port is None:
            raise BadInput(
                f"{where}: give port = the node port it is reached on (observe mode publishes none)"
            )
        tcp_keys.remove("port")
    if e.protocol == "http":
        if e.path is None:
            raise BadInput(f'{where}: an HTTP endpoint needs path (or set protocol = "tcp")')
        if tcp_keys:
            raise BadInput(
                f"{where}: {tcp_keys[0]} is for TCP endpoints; use body for the text an HTTP reply contains"
            )
        return Endpoint(e.path, e.body or "", e.status or 200, port=e.port if port is None else 0)
    if http_keys:
        raise BadInput(f"{where}: {http_keys[0]} is for HTTP endpoints; a TCP one has port, send and expect")
    if port is not None and e.port is not None and e.port != port:
        raise BadInput(
            f"{where}: port = {e.port} is not the workload's port ({port}), the only one published; remove it"
        )
    return Endpoint("", e.expect or "", send=e.send or "", port=e.port if port is None else port)


def beside(folder: Path, relative: str, named: str, limit: int = 0) -> Source:
    """A file named relative to the matrix folder (or absolute); checked when a cell that
    deploys it is chosen (``Matrix.cell``), so a matrix copied without it still lists its cells."""
    return Source(str((folder / relative).resolve()), f"{named} = {relative!r}", limit)
