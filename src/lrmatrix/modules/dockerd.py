"""The node's Docker daemon as its CLI and API show it: commands, readiness, info, versions,
its NAT chain and whether anything listens on its API socket.

Every call goes through the node's ``run`` with the node's DOCKER_HOST, so the same code serves
an engine node's namespace, an ssh node and a minikube node.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lrmatrix.command import CmdResult
from lrmatrix.deadline import REAL, Clock, poll
from lrmatrix.errors import NodeError
from lrmatrix.modules.base import Module
from lrmatrix.modules.procfs import listening_unix_socket

#: what the docker CLI says when no daemon answers on its socket
DAEMON_DOWN = "Cannot connect to the Docker daemon"
#: the systemd units of Docker's packages (Debian's docker.io, docker-ce, minikube's kicbase)
DOCKER_SOCKET, DOCKER_SERVICE, CONTAINERD_SERVICE = "docker.socket", "docker.service", "containerd.service"
#: the units that run dockerd, in the order they are stopped: the socket too, or its first
#: client (a check's own `docker ps`, cri-dockerd) starts dockerd again
DOCKER_UNITS = (DOCKER_SOCKET, DOCKER_SERVICE)
#: the docker commands whose lines ``lrmatrix plan --commands`` shows: the API answers (a start
#: waits for it), and what the running daemon applies (live-restore's effective setting)
API_READY = ("docker", "version", "--format", "{{.Server.Version}}")
INFO = ("docker", "info", "--format", "{{json .}}")
VERSIONS = ("docker", "version", "--format", "{{json .}}")


class Dockerd(Module):
    """The docker CLI and the daemon state it reports, on one node."""

    def cli(self, *args: str, timeout: float = 60.0) -> CmdResult:
        """``docker <args>`` on the node, whatever its exit status."""
        return self.run(["docker", *args], timeout)

    def cli_ok(self, *args: str, timeout: float = 60.0) -> str:
        """``docker <args>`` that must succeed; its stdout."""
        return self.check_output(["docker", *args], timeout)

    def api_ready(self) -> bool:
        return self.run(list(API_READY), timeout=10).ok

    def inspect(self, *refs: str) -> list[dict[str, Any]]:
        """``docker inspect`` of containers, in the order named; a NodeError if one is missing."""
        return list(json.loads(self.cli_ok("inspect", *refs)))

    def wait_api(
        self,
        timeout: float,
        alive: Callable[[], bool] | None = None,
        every: float = 0.1,
        clock: Clock = REAL,
    ) -> None:
        """Poll the API until it answers; ``alive()`` False means the daemon died: stop early.
        A driver whose waits a plan replays passes its own ``clock``."""

        def answered() -> bool:
            if self.api_ready():
                return True
            if alive is not None and not alive():
                raise NodeError("dockerd exited while starting")
            return False

        if not poll(answered, timeout, every, clock):
            raise NodeError(f"the Docker API on {self.node.name} did not answer within {timeout:.0f}s")

    def info(self) -> dict[str, Any]:
        return dict(json.loads(self.check_output(list(INFO), 60.0)))

    def effective_live_restore(self) -> bool:
        """What the running daemon applies, which may differ from what daemon.json says."""
        return bool(self.info().get("LiveRestoreEnabled"))

    def versions(self) -> dict[str, str]:
        """The daemon's version and its containerd's and runc's, as the daemon reports them."""
        return server_versions(json.loads(self.check_output(list(VERSIONS), 60.0)).get("Server") or {})

    def import_tarball(self, tarball: str, tag: str, cmd: str) -> None:
        """Import a root filesystem tarball on the node as an image, unless ``tag`` exists."""
        if not self.cli("image", "inspect", tag).ok:
            self.cli_ok(*import_args(tarball, tag, cmd), timeout=300)

    def nat_rules(self) -> list[str] | None:
        """The rules of the daemon's ``DOCKER`` NAT chain, ``None`` when the chain is missing
        (a daemon that starts recreates it: a window without it drops published ports)."""
        res = self.run(["iptables", "-w", "-t", "nat", "-S", "DOCKER"], timeout=10)
        if res.ok:
            return res.stdout.splitlines()
        # legacy: "No chain/target/match by that name"; nft: "chain `DOCKER' ... is incompatible"
        if res.rc == 1 and any(m in res.stderr for m in ("No chain", "does not exist", "incompatible")):
            return None
        raise NodeError(f"iptables -t nat -S DOCKER failed on {self.node.name}: {res.one_line()}")

    def socket_listening(self) -> bool:
        """Whether a listening socket is bound at the API socket's path, read from
        /proc/net/unix rather than by connecting: on a systemd node a connect() to a
        socket-activated docker.sock starts dockerd (a listening docker.socket is itself a
        daemon that is not gone: any client brings it back)."""
        table = self.run(["cat", "/proc/net/unix"], timeout=10).stdout
        return listening_unix_socket(table, self.node.socket_path)


def server_versions(server: dict[str, Any]) -> dict[str, str]:
    """The daemon's, containerd's and runc's versions from the API's /version answer (the
    CLI's ``Server``)."""
    found = {"docker": str(server.get("Version", ""))}
    for comp in server.get("Components") or []:
        name = str(comp.get("Name", "")).lower()
        if name in ("containerd", "runc"):
            found[name] = str(comp.get("Version", ""))
    return found


def import_args(tarball: str, tag: str, cmd: str) -> list[str]:
    """``docker import`` of a root filesystem tarball as ``tag``: what a node runs, and what
    ``lrmatrix plan --commands`` shows."""
    return ["import", "-c", f"CMD {cmd}", tarball, tag]
