"""The workload's containers on an engine or plain Docker node, as its spec describes them.

Its files are written under the node's work folder and bind-mounted read-only, so a config
change is an in-place rewrite (same inode) + the spec's reload command in each container.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.drivers.base import Node
from lrmatrix.errors import NodeError
from lrmatrix.workload.seed import (  # noqa: F401 - the seed's names, where checks import them
    ACCESS_LOGS,
    ENDPOINTS,
    INDEX_HTML,
    PAGE_TITLE,
    UPDATED_ENDPOINTS,
    nginx_conf,
    seed,
)
from lrmatrix.workload.spec import Endpoint, WorkloadSpec, content  # noqa: F401 - Endpoint: as above

NAME_PREFIX = "lrm-web-"
LABEL = "io.lrmatrix.cell"


@dataclass(frozen=True)
class ContainerState:
    """What identifies a container and its process across a daemon restart."""

    name: str
    id: str
    running: bool
    pid: int
    started_at: str
    restart_count: int
    port: int
    ip: str = ""  # on the node's bridge; empty for containers in a pod's shared namespace


class Workload:
    """The containers of ``spec`` (default: the seed's nginx with ``access_log``) running
    ``image``, one per replica, each published on its own node port."""

    def __init__(
        self,
        node: Node,
        image: str,
        replicas: int | None = None,
        base_port: int | None = None,
        config_dir: str = "",
        access_log: str = "stdout",
        spec: WorkloadSpec | None = None,
    ) -> None:
        self.node = node
        self.spec = spec or seed(access_log)
        self.access_log = access_log
        self.image = image
        first = self.spec.base_port if base_port is None else base_port
        self.ports = [first + i for i in range(self.spec.replicas if replicas is None else replicas)]
        self.config_dir = config_dir

    @property
    def names(self) -> list[str]:
        return [f"{NAME_PREFIX}{i + 1}" for i in range(len(self.ports))]

    def node_path(self, relative: str) -> str:
        return f"{self.config_dir}/{relative}"

    def mkdir_args(self) -> list[str]:
        folders = [self.node_path(f) for f in self.spec.folders()]
        return ["mkdir", "-p", *(folders or [self.config_dir])]

    def deploy(self) -> None:
        self.node.run(self.mkdir_args())
        for relative, data in self.spec.files.items():
            self.node.write_file(self.node_path(relative), content(data))
        for name, port in zip(self.names, self.ports, strict=True):
            self.node.dockerd.cli_ok(*self.run_args(name, port))

    def run_args(self, name: str, port: int) -> list[str]:
        """One container's ``docker run``: what ``deploy`` runs and ``plan --commands`` shows."""
        spec = self.spec
        hostname = ["--hostname", name] if spec.hostname else []  # nginx's $hostname: X-Served-By
        env = [arg for key, value in spec.env.items() for arg in ("-e", f"{key}={value}")]
        mounts = [
            arg for m in spec.mounts for arg in ("-v", f"{self.node_path(m.node_path)}:{m.container_path}:ro")
        ]
        return [
            "run",
            "-d",
            "--name",
            name,
            *hostname,
            "--restart",
            "unless-stopped",  # without live-restore the daemon brings them back on start
            "--label",
            f"{LABEL}={self.node.cell.name}",
            "-p",
            f"{port}:{spec.port}",
            *env,
            *mounts,
            self.image,
            *spec.command,
        ]

    def snapshot(self) -> list[ContainerState]:
        """Current state of every workload container, via the API (needs the daemon)."""
        return inspect_containers(self.node, self.names, self.ports)

    def apply_change(self) -> None:
        """The config change: rewrite its file in place and run the reload in every container."""
        change = self.spec.change
        if change is None:
            raise NodeError(f"the workload {self.spec.name} has no config change")
        self.node.write_file(self.node_path(change.file), content(change.content))
        for name in self.names:
            res = self.node.dockerd.cli("exec", name, *change.reload)
            if not res.ok:
                raise NodeError(f"`{' '.join(change.reload)}` in {name} failed: {res.one_line()}")

    def remove(self) -> None:
        self.node.dockerd.cli("rm", "-f", *self.names)


def inspect_containers(node: Node, refs: list[str], ports: list[int]) -> list[ContainerState]:
    """``docker inspect`` reduced to what identifies a container and its process; ``ports[i]``
    is where container ``i`` is published (one port for all: a Kubernetes NodePort)."""
    if not refs:
        return []
    raw = node.dockerd.inspect(*refs)
    return [
        ContainerState(
            name=item["Name"].lstrip("/"),
            id=item["Id"],
            running=bool(item["State"]["Running"]),
            pid=int(item["State"]["Pid"]),
            started_at=str(item["State"]["StartedAt"]),
            restart_count=int(item.get("RestartCount", 0)),
            port=ports[min(i, len(ports) - 1)],
            ip=str((item.get("NetworkSettings") or {}).get("IPAddress") or ""),
        )
        for i, item in enumerate(raw)
    ]


class PodContainers:
    """The containers of a cell's pods on a Docker-runtime Kubernetes node, found by the labels
    cri-dockerd puts on them (namespace, and the pod template's container names), so the same
    process checks apply to Kubernetes cells. Default: the seed's nginx on NodePort 30081."""

    def __init__(
        self,
        node: Node,
        namespace: str,
        node_ports: int | list[int],
        replicas: int = 2,
        spec: WorkloadSpec | None = None,
        containers: tuple[str, ...] = ("nginx",),
        image: str = "nginx:alpine",
    ) -> None:
        self.node = node
        self.namespace = namespace
        self.ports = [node_ports] if isinstance(node_ports, int) else list(node_ports)
        self.replicas = replicas
        #: what is probed: the endpoints, each on its NodePort when it has one
        self.spec = spec or seed()
        self.containers = containers
        #: an image the node has (the pod template's): the after-phase check runs a container of it
        self.image = image

    @property
    def names(self) -> list[str]:
        """Container IDs; one ``docker ps`` per container name (its label filters are ANDed)."""
        found: dict[str, None] = {}
        for container in self.containers:
            out = self.node.dockerd.cli_ok(
                "ps",
                "-q",
                "--no-trunc",
                "--filter",
                f"label=io.kubernetes.pod.namespace={self.namespace}",
                "--filter",
                f"label=io.kubernetes.container.name={container}",
            )
            found.update(dict.fromkeys(out.split()))
        return list(found)

    def snapshot(self) -> list[ContainerState]:
        return sorted(inspect_containers(self.node, self.names, self.ports), key=lambda c: c.name)
