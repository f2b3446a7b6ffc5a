"""The Node interface every driver implements, and the Docker work they all share.

A driver only knows how to reach its node (run a command, read/write a file, start and stop
the daemon). Everything expressed with the docker CLI or /proc lives here once, so the
engine, ssh and minikube drivers stay small and behave the same.
"""

from __future__ import annotations

import json
import shlex
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from lrmatrix.command import CmdResult
from lrmatrix.deadline import poll
from lrmatrix.errors import BadInput, NodeError
from lrmatrix.probe import Target
from lrmatrix.procfs import parse_stat, parse_stats

if TYPE_CHECKING:
    from pathlib import Path

    from testinfra.backend.base import BaseBackend

    from lrmatrix.engines import Engine
    from lrmatrix.matrix import Cell
    from lrmatrix.transport import Transport

DAEMON_DOWN = "Cannot connect to the Docker daemon"

READ_FILES_SCRIPT = (
    'for f in "$@"; do if c=$(base64 -w0 -- "$f" 2>/dev/null); then printf "1 %s\\n" "$c"; '
    "else echo 0; fi; done"
)


@dataclass(frozen=True)
class ProcInfo:
    """A process identity that survives nothing but the process itself: pid + start time."""

    pid: int
    ppid: int
    start_ticks: int
    cmdline: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)


#: /proc/net/unix flag of a listening socket (__SO_ACCEPTCON)
SO_ACCEPTCON = 0x10000


def listening_unix_socket(table: str, path: str) -> bool:
    """Whether /proc/net/unix (``table``) has a listening socket bound at ``path``
    (/var/run is /run on current systems, and systemd binds docker.sock under /run)."""
    names = {path, path.replace("/var/run/", "/run/", 1)}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7] in names and int(fields[3], 16) & SO_ACCEPTCON:
            return True
    return False


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
    #: whether ``docker_nat_rules`` is implemented
    samples_nat: ClassVar[bool] = False

    def __init__(self, cell: Cell) -> None:
        self.cell = cell

    # --- what each driver provides -------------------------------------------------------
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
        res = self.run(["kill", "-s", "HUP", str(pid)])
        if not res.ok:
            raise NodeError(f"cannot send SIGHUP to dockerd (pid {pid}): {res.one_line()}")

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
        to the socket where a connect could start the daemon (see ``socket_listening``)."""
        pids = self.processes("dockerd")
        if pids:
            return f"dockerd (pid {pids[0]}) is running"
        if self.socket_listening():
            return f"something listens on {self.socket_path}"
        return None

    def service_mark(self) -> str:
        """Where the service manager's log is now (systemd: a journal cursor), so that what it
        did to the units afterwards can be read with ``unit_messages``; "" where it cannot tell."""
        return ""

    def unit_messages(self, mark: str, units: tuple[str, ...]) -> list[UnitMessage]:
        """The service manager's own messages on ``units`` after ``mark`` (none by default)."""
        return []

    def processes(self, name: str) -> list[int]:
        """PIDs of this node's processes whose command name is ``name`` (dockerd, docker-proxy).
        On a node of its own every such process is the node's."""
        return self.processes_named((name,))[name]

    def processes_named(self, names: tuple[str, ...]) -> dict[str, list[int]]:
        """``processes`` of several names in one command."""
        pattern = " ".join(f"-e {shlex.quote(n)}" for n in names)
        res = self.run(["sh", "-c", f"grep -Hx {pattern} /proc/[0-9]*/comm 2>/dev/null"], timeout=10)
        found: dict[str, list[int]] = {n: [] for n in names}
        for line in res.stdout.split():  # /proc/<pid>/comm:<name>
            path, _, name = line.partition(":")
            if name in found and path.count("/") == 3:
                found[name].append(int(path.split("/")[2]))
        return {n: sorted(pids) for n, pids in found.items()}

    def socket_listening(self) -> bool:
        """Whether a listening socket is bound at the API socket's path, read from
        /proc/net/unix rather than by connecting: on a systemd node a connect() to a
        socket-activated docker.sock starts dockerd (a listening docker.socket is itself a
        daemon that is not gone: any client brings it back)."""
        table = self.run(["cat", "/proc/net/unix"], timeout=10).stdout
        return listening_unix_socket(table, self.socket_path)

    def docker_nat_rules(self) -> list[str] | None:
        """The rules of the node's ``DOCKER`` NAT chain, ``None`` when the chain is missing.
        Only drivers that can read the NAT table fast enough to sample it around a daemon
        start implement it (``samples_nat``)."""
        raise NotImplementedError

    # --- shared Docker work --------------------------------------------------------------
    def docker(self, *args: str, timeout: float = 60.0) -> CmdResult:
        return self.run(["docker", *args], timeout=timeout)

    def docker_ok(self, *args: str, timeout: float = 60.0) -> str:
        """Run a docker command that must succeed; its stdout."""
        res = self.docker(*args, timeout=timeout)
        if not res.ok:
            raise NodeError(f"docker {' '.join(args)} failed on the node: {res.one_line()}")
        return res.stdout

    def api_ready(self) -> bool:
        return self.docker("version", "--format", "{{.Server.Version}}", timeout=10).ok

    def wait_api(self, timeout: float, alive: Any = None) -> None:
        """Poll the API until it answers; ``alive()`` False means the daemon died: stop early."""

        def answered() -> bool:
            if self.api_ready():
                return True
            if alive is not None and not alive():
                raise NodeError("dockerd exited while starting")
            return False

        if not poll(answered, timeout, 0.1):
            raise NodeError(f"the Docker API did not answer within {timeout:.0f}s")

    def info(self) -> dict[str, Any]:
        return json.loads(self.docker_ok("info", "--format", "{{json .}}"))

    def effective_live_restore(self) -> bool:
        return bool(self.info().get("LiveRestoreEnabled"))

    def versions(self) -> dict[str, str]:
        """Versions observed on the node (not assumed from packages)."""
        raw = json.loads(self.docker_ok("version", "--format", "{{json .}}"))
        server = raw.get("Server") or {}
        found = {"docker": str(server.get("Version", ""))}
        for comp in server.get("Components") or []:
            name = str(comp.get("Name", "")).lower()
            if name in ("containerd", "runc"):
                found[name] = str(comp.get("Version", ""))
        found["kernel"] = self.run(["uname", "-r"]).stdout.strip()
        return found

    def proc(self, pid: int) -> ProcInfo | None:
        """Identity of a process on the node from /proc, ``None`` if it does not exist."""
        return self.procs([pid])[pid]

    def procs(self, pids: Iterable[int]) -> dict[int, ProcInfo | None]:
        """``proc`` of many processes, their files read in one go (``read_files``)."""
        pids = list(dict.fromkeys(pids))
        files = self.read_files([f"/proc/{pid}/{name}" for pid in pids for name in ("stat", "cmdline")])
        found: dict[int, ProcInfo | None] = {}
        for pid in pids:
            raw, cmd = files[f"/proc/{pid}/stat"], files[f"/proc/{pid}/cmdline"]
            stat = parse_stat(raw.decode(errors="replace")) if raw is not None else None
            if stat is None or stat.zombie or cmd is None:
                found[pid] = None
                continue
            cmdline = cmd.replace(b"\0", b" ").decode(errors="replace").strip()
            found[pid] = ProcInfo(pid, stat.ppid, stat.start_ticks, cmdline)
        return found

    def process_trees(self, pids: list[int]) -> dict[int, list[ProcInfo]]:
        """For each container's main process: its parent (the shim), itself and its live direct
        children (nginx workers), ``[]`` when it is gone. Three reads whatever the count, so a
        node reached over ssh pays three round trips, not a few per process."""
        mains = {pid: info for pid, info in self.procs(pids).items() if info is not None}
        table = parse_stats(self.run(["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"]).stdout)
        kids = {st.pid: st.ppid for st in table if st.ppid in mains and not st.zombie}
        more = self.procs([m.ppid for m in mains.values()] + list(kids))
        trees: dict[int, list[ProcInfo]] = {pid: [] for pid in pids}
        for pid, main in mains.items():
            shim = more.get(main.ppid)
            children = [info for kid, info in more.items() if kids.get(kid) == pid and info is not None]
            trees[pid] = [p for p in (shim, main) if p] + children
        return trees

    def read_files(self, paths: list[str]) -> dict[str, bytes | None]:
        """Many small files (``None`` where absent). One by one here; a driver that pays a round
        trip per command reads them in one (``transport.read_files``)."""
        return {path: self.read_file(path) for path in paths}

    def upload(self, local: Path, remote: str) -> None:
        """A local file to the node (drivers that stage packages for an upgrade: ssh)."""
        raise NodeError(f"the {self.scheme} driver cannot copy files to its node")

    def import_image(self, tarball: str, tag: str, cmd: str) -> None:
        """Import a root filesystem tarball as an image (the CLI reads the local path)."""
        if not self.docker("image", "inspect", tag).ok:
            self.docker_ok("import", "-c", f"CMD {cmd}", tarball, tag, timeout=300)

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
