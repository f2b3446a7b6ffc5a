"""The workload: the seed experiment's nginx, as containers on an engine or plain Docker node.

Its configuration is bind-mounted from files on the node, so the same config serves the
offline-built image and nginx:alpine, and the config change is an in-place rewrite + reload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lrmatrix.drivers.base import Node
from lrmatrix.errors import NodeError

NAME_PREFIX = "lrm-web-"
LABEL = "io.lrmatrix.cell"


@dataclass(frozen=True)
class Endpoint:
    """A URL path and the text its body must contain to count as a success."""

    path: str
    expect: str


PAGE_TITLE = "Live Restore Test"
ENDPOINTS = (
    Endpoint("/", PAGE_TITLE),
    Endpoint("/health", "healthy"),
    Endpoint("/status", "nginx is running"),
)
UPDATED_ENDPOINTS = (
    Endpoint("/health", "healthy - updated"),
    Endpoint("/status", "nginx is running - updated"),
    Endpoint("/test", "Live Restore Test - Updated Configuration"),
)

INDEX_HTML = f"""<!DOCTYPE html>
<html><head><title>{PAGE_TITLE}</title></head>
<body><h1>{PAGE_TITLE}</h1><p>Served by nginx; probed by lrmatrix.</p></body></html>
"""


#: where nginx writes its access log: the seed's stdout (drained by dockerd), or a file in the
#: container (nothing for a stopped dockerd to leave undrained)
ACCESS_LOGS = {"stdout": "/dev/stdout", "file": "/var/log/nginx/access.log"}


def nginx_conf(updated: bool = False, access_log: str = "stdout") -> str:
    """The seed nginx.conf; ``updated`` is the config-change variant with ``/test``."""
    suffix = " - updated" if updated else ""
    test = (
        (
            "    location = /test { default_type text/plain; "
            'return 200 "Live Restore Test - Updated Configuration\\n"; }\n'
        )
        if updated
        else ""
    )
    return (
        "user nobody nogroup;\n"
        "worker_processes 1;\n"
        "pid /tmp/nginx.pid;\n"
        "error_log /dev/stderr warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"  access_log {ACCESS_LOGS[access_log]};\n"
        # who served: the container's hostname (its name here, the pod's name on Kubernetes)
        "  add_header X-Served-By $hostname always;\n"
        "  server {\n"
        "    listen 80;\n"
        f'    location = /health {{ default_type text/plain; return 200 "healthy{suffix}\\n"; }}\n'
        f"    location = /status {{ default_type text/plain; "
        f'return 200 "nginx is running{suffix}\\n"; }}\n'
        f"{test}"
        "    location / { root /usr/share/nginx/html; index index.html; default_type text/html; }\n"
        "  }\n"
        "}\n"
    )


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
    def __init__(
        self,
        node: Node,
        image: str,
        replicas: int = 2,
        base_port: int = 8081,
        config_dir: str = "",
        access_log: str = "stdout",
    ) -> None:
        self.node = node
        self.access_log = access_log
        self.image = image
        self.ports = [base_port + i for i in range(replicas)]
        self.config_dir = config_dir

    @property
    def names(self) -> list[str]:
        return [f"{NAME_PREFIX}{i + 1}" for i in range(len(self.ports))]

    @property
    def conf_path(self) -> str:
        return f"{self.config_dir}/nginx.conf"

    @property
    def index_path(self) -> str:
        return f"{self.config_dir}/html/index.html"

    def mkdir_args(self) -> list[str]:
        return ["mkdir", "-p", f"{self.config_dir}/html"]

    def deploy(self) -> None:
        self.node.run(self.mkdir_args())
        self.node.write_file(self.conf_path, nginx_conf(access_log=self.access_log).encode())
        self.node.write_file(self.index_path, INDEX_HTML.encode())
        for name, port in zip(self.names, self.ports, strict=True):
            self.node.dockerd.cli_ok(*self.run_args(name, port))

    def run_args(self, name: str, port: int) -> list[str]:
        """One container's ``docker run``: what ``deploy`` runs and ``plan --commands`` shows."""
        return [
            "run",
            "-d",
            "--name",
            name,
            "--hostname",  # nginx's $hostname: the X-Served-By header names the container
            name,
            "--restart",
            "unless-stopped",  # without live-restore the daemon brings them back on start
            "--label",
            f"{LABEL}={self.node.cell.name}",
            "-p",
            f"{port}:80",
            "-v",
            f"{self.conf_path}:/etc/nginx/nginx.conf:ro",
            "-v",
            f"{self.config_dir}/html:/usr/share/nginx/html:ro",
            self.image,
        ]

    def snapshot(self) -> list[ContainerState]:
        """Current state of every workload container, via the API (needs the daemon)."""
        return inspect_containers(self.node, self.names, self.ports)

    def apply_change(self) -> None:
        """The config change: rewrite nginx.conf in place and reload every container."""
        self.node.write_file(self.conf_path, nginx_conf(updated=True, access_log=self.access_log).encode())
        for name in self.names:
            res = self.node.dockerd.cli("exec", name, "nginx", "-s", "reload")
            if not res.ok:
                raise NodeError(f"reloading nginx in {name} failed: {res.one_line()}")

    def remove(self) -> None:
        self.node.dockerd.cli("rm", "-f", *self.names)


def inspect_containers(node: Node, refs: list[str], ports: list[int]) -> list[ContainerState]:
    """``docker inspect`` reduced to what identifies a container and its process; ``ports[i]``
    is where container ``i`` is published (one port for all: a Kubernetes NodePort)."""
    if not refs:
        return []
    raw = json.loads(node.dockerd.cli_ok("inspect", *refs))
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
    """The nginx containers of a cell's pods on a Docker-runtime Kubernetes node, found by the
    labels cri-dockerd puts on them, so the same process checks apply to Kubernetes cells."""

    image = "nginx:alpine"

    def __init__(self, node: Node, namespace: str, node_port: int, replicas: int = 2) -> None:
        self.node = node
        self.namespace = namespace
        self.ports = [node_port]
        self.replicas = replicas

    @property
    def names(self) -> list[str]:
        out = self.node.dockerd.cli_ok(
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            f"label=io.kubernetes.pod.namespace={self.namespace}",
            "--filter",
            "label=io.kubernetes.container.name=nginx",
        )
        return out.split()

    def snapshot(self) -> list[ContainerState]:
        return sorted(inspect_containers(self.node, self.names, self.ports), key=lambda c: c.name)
