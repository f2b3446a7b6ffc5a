"""The Node interface every driver implements.

A driver only knows how to reach its node (run a command, read/write a file) and how its
daemon is started, stopped and reloaded. The Docker and /proc work on top of that lives in
``lrmatrix.modules`` (``node.dockerd``, ``node.processes``), once for every driver, so the
engine, ssh and minikube drivers stay small and behave the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from lrmatrix.command import CmdResult
from lrmatrix.drivers.planned import Planned
from lrmatrix.errors import BadInput, NodeError
from lrmatrix.evidence.probe import Target
from lrmatrix.modules.dockerd import Dockerd
from lrmatrix.modules.host import NodeHost
from lrmatrix.modules.processes import Processes

if TYPE_CHECKING:
    from pathlib import Path

    from testinfra.backend.base import BaseBackend

    from lrmatrix.drivers.transport import Transport
    from lrmatrix.evidence.other_containers import OtherContainers
    from lrmatrix.matrix.engines import Engine
    from lrmatrix.matrix.model import Cell


#: how a plan names a process id that only exists once the node runs
PID = "<dockerd pid>"


def signal_argv(name: str, pid: int | str) -> list[str]:
    """``kill -s NAME PID`` (``name`` without ``SIG``): how a driver without a service
    manager's reload signals dockerd on the node."""
    return ["kill", "-s", name.removeprefix("SIG"), str(pid)]


#: the kernel the node runs, read with the versions
KERNEL = ("uname", "-r")


class UnitMessage(NamedTuple):
    """One message of the node's service manager about a unit: its monotonic and wall time."""

    t: float
    wall: float
    message: str


class Node(ABC):
    """A machine whose Docker daemon the scenario disrupts."""

    scheme: ClassVar[str]
    #: packages the node needs, as {command: Debian package}, checked before anything changes
    requires: ClassVar[dict[str, str]] = {}
    #: whether the node's daemon can pull an image from a registry (``--image``)
    can_pull: ClassVar[bool] = True
    #: whether ``daemon_up`` is cheap enough to poll every 250 ms through an outage window
    watches_daemon: ClassVar[bool] = False
    #: whether ``dockerd.nat_rules`` is fast enough to sample around a daemon start
    samples_nat: ClassVar[bool] = False
    #: whether the node's processes are this machine's (the same /proc): what reads them runs
    #: in the harness's own process instead of a command per reading
    procfs_here: ClassVar[bool] = False
    #: the module classes of this node: a driver names a subclass where its node differs
    dockerd_module: ClassVar[type[Dockerd]] = Dockerd
    processes_module: ClassVar[type[Processes]] = Processes

    def __init__(self, cell: Cell) -> None:
        self.cell = cell

    # --- capabilities on top of ``run`` and ``read_files`` (lrmatrix.modules) ---------------
    @cached_property
    def dockerd(self) -> Dockerd:
        """The docker CLI and the daemon state it reports, on this node."""
        return self.dockerd_module(self)

    @cached_property
    def processes(self) -> Processes:
        """This node's /proc: process identities, container process trees, processes by name."""
        return self.processes_module(self)

    def testinfra_host(self) -> NodeHost:
        """The checks' testinfra ``host``: the node's backend, with this node's modules on it."""
        return NodeHost(self.testinfra_backend(), self.dockerd, self.processes)

    # --- what each driver provides -------------------------------------------------------
    @property
    @abstractmethod
    def name(self) -> str:
        """The node's name in messages (a slot, user@host:port, a minikube profile)."""

    @abstractmethod
    def sanity_checks(self) -> None:
        """Raise EnvironmentProblem (one line) if this node cannot run the cell; change nothing."""

    @abstractmethod
    def create(self) -> None:
        """Make the node exist and its daemon run with its original configuration."""

    @abstractmethod
    def destroy(self) -> None:
        """Return the machine to how it was before ``create``; must be safe to call twice."""

    @property
    def transport(self) -> Transport:
        """How commands reach the node: a testinfra backend, shared with the node checks
        (netns on an engine node, the ssh connection, ``minikube ssh`` on the cell's runner)."""
        raise NotImplementedError(f"the {self.scheme} driver has no transport")

    def run(self, argv: list[str], timeout: float = 60.0) -> CmdResult:
        """Run a command on the node with the node's DOCKER_HOST."""
        return self.transport.exec(argv, timeout)

    @abstractmethod
    def read_file(self, path: str) -> bytes | None:
        """File bytes on the node, ``None`` if absent."""

    def read_files(self, paths: list[str]) -> dict[str, bytes | None]:
        """Many small files (``None`` where absent). One by one here; a driver that pays a round
        trip per command reads them in one (``transport.read_files``)."""
        return {path: self.read_file(path) for path in paths}

    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        """Write in place (same inode), so bind mounts of the file see the new content."""

    @abstractmethod
    def start_daemon(self) -> None:
        """Start dockerd the way the node's service manager would, and wait for its API."""

    @abstractmethod
    def stop_daemon(self, signal_name: str) -> None:
        """Stop dockerd the way the node's service manager would, and wait until it is gone."""

    @abstractmethod
    def daemon_pid(self) -> int | None:
        """PID of this node's dockerd, ``None`` when it is not running."""

    def reload_daemon(self) -> None:
        """Make the running dockerd reread daemon.json without stopping it (SIGHUP, what
        ``systemctl reload docker`` sends): reloadable options such as live-restore change
        while every container keeps running. Drivers with a service manager use its reload."""
        pid = self.daemon_pid()
        if pid is None:
            raise NodeError("dockerd is not running: there is nothing to reload")
        res = self.run(signal_argv("HUP", pid))
        if not res.ok:
            raise NodeError(f"cannot send SIGHUP to dockerd (pid {pid}): {res.one_line()}")

    # --- what each operation runs, as data: ``lrmatrix plan CELL --commands`` ----------------
    def planned(self, argv: list[str]) -> Planned:
        """``argv`` on the node, as the node's transport sends it."""
        return Planned("run", self.transport.line(argv))

    def plan_view(self) -> Node:
        """This node as a plan shows it (an engine node not yet made shows its first slot)."""
        return self

    def plan_create(self) -> list[Planned]:
        """What ``create`` runs, from the builders it runs."""
        raise NotImplementedError(f"the {self.scheme} driver has no plan of its commands")

    def plan_start(self) -> list[Planned]:
        """What ``start_daemon`` runs, its waits with their bounds."""
        raise NotImplementedError(f"the {self.scheme} driver has no plan of its commands")

    def plan_stop(self, signal_name: str) -> list[Planned]:
        """What ``stop_daemon(signal_name)`` runs, its waits with their bounds."""
        raise NotImplementedError(f"the {self.scheme} driver has no plan of its commands")

    def plan_destroy(self) -> list[Planned]:
        """What ``destroy`` runs."""
        raise NotImplementedError(f"the {self.scheme} driver has no plan of its commands")

    def plan_reload(self) -> list[Planned]:
        """What ``reload_daemon`` runs: here SIGHUP to dockerd through the node's transport."""
        return [self.planned(signal_argv("HUP", PID))]

    def plan_read(self, path: str) -> list[Planned]:
        """How ``read_file(path)`` reads it."""
        return [Planned("run", f"read {path}")]

    def plan_write(self, path: str, text: str) -> list[Planned]:
        """How ``write_file(path, ...)`` writes it in place."""
        return [Planned("write", f"{path} (in place): {text}")]

    def testinfra_backend(self) -> BaseBackend:
        """The backend of the checks' ``host`` fixture: the node's transport."""
        return self.transport

    @property
    @abstractmethod
    def address(self) -> str:
        """The node address a client outside the node uses (the ``node`` access path)."""

    @property
    @abstractmethod
    def daemon_json_path(self) -> str:
        """Where this node's dockerd reads daemon.json."""

    @property
    @abstractmethod
    def socket_path(self) -> str:
        """The node's Docker API unix socket."""

    def other_containers(self) -> OtherContainers | None:
        """The node's own containers (not the cell's), recorded by ``sanity_checks`` and brought
        back by ``destroy``; None on a node the harness made, where nothing else runs."""
        return None

    def api_targets(self) -> dict[str, list[Target]]:
        """Access paths besides the workload's (minikube: the API server's /readyz)."""
        return {}

    def node_path_caveat(self) -> str | None:
        """Why the ``node`` access path is not what its name claims on this node (e.g. a loopback
        address: docker-proxy, not DNAT), found by ``sanity_checks``; None when it is."""
        return None

    def loopback_netns(self) -> str | None:
        """A network namespace path from which 127.0.0.1 is the node's loopback, if reachable."""
        return None

    # --- is the daemon really gone -------------------------------------------------------
    def daemon_up(self) -> str | None:
        """What shows this node's daemon is up (a dockerd process, a listener on its API
        socket), or ``None`` when it is gone. Looks for the process first and never connects
        to the socket where a connect could start the daemon (see ``Dockerd.socket_listening``)."""
        pids = self.processes.named("dockerd")
        if pids:
            return f"dockerd (pid {pids[0]}) is running"
        if self.dockerd.socket_listening():
            return f"something listens on {self.socket_path}"
        return None

    def service_mark(self) -> str:
        """Where the service manager's log is now (systemd: a journal cursor), so that what it
        did to the units afterwards can be read with ``unit_messages``; "" where it cannot tell."""
        return ""

    def unit_messages(self, mark: str, units: tuple[str, ...]) -> list[UnitMessage]:
        """The service manager's own messages on ``units`` after ``mark`` (none by default)."""
        return []

    def versions(self) -> dict[str, str]:
        """Versions observed on the node (not assumed from packages): the daemon's, and the kernel."""
        return {**self.dockerd.versions(), "kernel": self.run(list(KERNEL)).stdout.strip()}

    def engine_version(self) -> str:
        """The Docker version the cell will run on this node, read before anything changes
        (``lrmatrix.matrix.engine_match`` compares it with the cell's); here the running
        daemon's, as a node of yours has one."""
        return self.dockerd.versions()["docker"]

    def plan_versions(self) -> list[Planned]:
        """What ``versions`` runs."""
        from lrmatrix.modules.dockerd import VERSIONS

        return [self.planned(list(VERSIONS)), self.planned(list(KERNEL))]

    def upload(self, local: Path, remote: str) -> None:
        """A local file to the node (drivers that stage packages for an upgrade: ssh)."""
        raise NodeError(f"the {self.scheme} driver cannot copy files to its node")

    def import_image(self, tarball: str, tag: str, cmd: str) -> None:
        """Import a root filesystem tarball of this machine as an image; here the CLI reads the
        local path, a node elsewhere uploads it first."""
        self.dockerd.import_tarball(tarball, tag, cmd)

    def switch_engine(self, engine: Engine) -> None:
        """Run ``engine``'s daemon from the next start on (upgrade cells). Only a node the
        harness made can swap binaries; on a real node the package manager upgrades."""
        raise BadInput(
            f"the {self.scheme} driver cannot swap dockerd binaries (cell {self.cell.name} starts engine "
            f"{engine.name} after the window): upgrade cells run on engine:// nodes"
        )

    def release(self) -> None:  # noqa: B027 - an optional hook: most drivers reserve nothing
        """After ``destroy`` and the residue check: let go of what reserved the node (a slot's
        lock), so nobody can take it over while its teardown is still being checked."""

    def logs(self) -> dict[str, bytes]:
        """Daemon logs worth keeping beside the result (name -> bytes), read before destroy."""
        return {}

    def residue(self) -> list[str]:
        """What ``destroy`` should have removed but did not; empty means the node is clean."""
        return []

    @property
    def work_dir(self) -> str:
        """A folder on the node for the workload's config files, removed by ``destroy``."""
        raise NotImplementedError
