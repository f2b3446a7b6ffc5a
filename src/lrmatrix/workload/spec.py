"""A workload as data: its image, containers, endpoints and config change (``[workloads.<name>]``).

The matrix loader makes these from matrix.toml (``lrmatrix.matrix.workloads``); the seed's nginx
is one of them too (``lrmatrix.workload.seed``), so deploying, probing and changing read the
same fields whatever runs. Plain data, no node: ``matrix.model`` holds it in every cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: the seed's nginx: the workload of every cell that names none (``lrmatrix.workload.seed``)
SEED = "nginx"


@dataclass(frozen=True)
class Endpoint:
    """What one request must get. HTTP (``path`` set): the status and a text the body contains.
    TCP (``path`` empty): a connection to the container's ``port``, an optional line sent, and a
    text the reply contains (``expect``; empty: the connection alone is the answer)."""

    path: str = ""
    expect: str = ""
    status: int = 200
    send: str = ""
    port: int = 0  # TCP: the container port it connects to (0: the workload's); observe: the node port
    #: Kubernetes: the NodePort it is probed on, read from the manifests' Service (0: the
    #: workload's ports); ``port`` then names the Service port (its port or targetPort)
    node_port: int = 0

    @property
    def tcp(self) -> bool:
        return not self.path

    def label(self) -> str:
        """How a message names it: ``/health`` or ``tcp PING``."""
        return self.path if self.path else f"tcp {self.send or '(connect)'}".strip()


@dataclass(frozen=True)
class Source:
    """A file beside the matrix (absolute ``path``), read when the workload is deployed;
    ``named`` is where the matrix names it, for the one line that says it is missing."""

    path: str
    named: str
    #: bytes at most (a config file), 0: any size (an image tarball)
    limit: int = 0

    def problem(self) -> str | None:
        """Why it cannot be used; None when it can."""
        path = Path(self.path)
        if not path.is_file():
            return f"{self.named}: no such file ({self.path}); fix the path"
        if self.limit and path.stat().st_size > self.limit:
            return f"{self.named}: larger than {self.limit >> 20} MiB; mount a config, not data"
        return None

    def read(self) -> bytes:
        return Path(self.path).read_bytes()


def content(data: bytes | Source) -> bytes:
    """A file's bytes: given (the seed's generated config) or read from beside the matrix."""
    return data.read() if isinstance(data, Source) else data


@dataclass(frozen=True)
class Image:
    """Exactly one of: an offline ``recipe`` shipped in the package, a ``docker save``
    ``tarball`` holding ``ref``, or ``ref`` alone, already on the node."""

    recipe: str = ""
    tarball: Source | None = None
    ref: str = ""

    def describe(self) -> str:
        if self.recipe:
            return f"the offline-built {self.recipe} image"
        if self.tarball:
            return f"{self.ref} from {self.tarball.path} (docker load)"
        return f"{self.ref} (already on the node)"


@dataclass(frozen=True)
class Mount:
    """A file (or folder) written under the node's work folder, mounted read-only."""

    node_path: str  # relative to the node's work folder
    container_path: str


@dataclass(frozen=True)
class Change:
    """The config change: ``file`` (a node path of one of the workload's ``files``) rewritten
    with ``content``, then ``reload`` run in each container (``docker exec``), then
    ``endpoints`` must answer."""

    file: str
    content: bytes | Source
    reload: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class Manifests:
    """A Kubernetes workload: the user's own manifests (a folder or one file beside the matrix,
    ``path``), applied into the cell's namespace; ``change``: the overlay the change phase
    applies ("" = no change step), after which ``change_endpoints`` must answer."""

    path: str
    named: str  # where the matrix names it, for the one line that says what is wrong
    where: str  # the workload's table, for lines about its endpoints
    change: str = ""
    change_named: str = ""
    change_endpoints: tuple[Endpoint, ...] = ()

    def problem(self, endpoints: tuple[Endpoint, ...]) -> str | None:
        """Why they cannot be applied and probed (read and checked by ``lrmatrix.kube``)."""
        from lrmatrix.kube.manifests import problem

        return problem(self, endpoints)


@dataclass(frozen=True)
class Observe:
    """Observe mode (ssh nodes): the user's own running containers, named (``names``) or
    selected by a ``label`` ("key=value"), are the workload: never created, changed or removed.
    Their endpoints' ``port`` is the node port each is reached on (the user published it)."""

    names: tuple[str, ...] = ()
    label: str = ""

    def describe(self) -> str:
        return (
            f"the containers labelled {self.label}"
            if self.label
            else "the containers " + ", ".join(self.names)
        )

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        if self.label:
            key, _, value = self.label.partition("=")
            return labels.get(key) == value
        return name in self.names


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything that differs between workloads. ``files`` are written under the node's work
    folder (node path -> content) before the containers start; ``mounts`` bind them in."""

    name: str
    image: Image
    port: int
    endpoints: tuple[Endpoint, ...]
    replicas: int = 2
    base_port: int = 8081
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes | Source] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    #: the response header naming the serving container ("" = none: the address tells them apart)
    identify: str = ""
    #: Docker's --hostname per container is its name (nginx's $hostname feeds X-Served-By)
    hostname: bool = False
    change: Change | None = None
    #: Kubernetes cells: the manifests applied instead of containers (None: not a Kubernetes workload)
    manifests: Manifests | None = None
    #: observe mode: the user's containers, not the harness's (``image`` then names none)
    observe: Observe | None = None

    @property
    def ports(self) -> list[int]:
        """The node port each replica is published on, consecutive from ``base_port``."""
        return [self.base_port + i for i in range(self.replicas)]

    def problems(self) -> list[str]:
        """What is missing beside the matrix (a tarball, a file): checked before a node changes."""
        sources = [self.image.tarball, *self.files.values(), self.change.content if self.change else None]
        found = [why for s in sources if isinstance(s, Source) and (why := s.problem())]
        manifests = self.manifests.problem(self.endpoints) if self.manifests else None
        return [*found, manifests] if manifests else found

    def folders(self) -> list[str]:
        """Folders under the node's work folder that the files need, each once, in order."""
        found: list[str] = []
        for path in self.files:
            parent = path.rpartition("/")[0]
            if parent and parent not in found:
                found.append(parent)
        return found
