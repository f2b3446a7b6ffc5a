"""The engine driver: a dockerd the harness starts in its own network namespace.

Its own data-root, exec-root, socket, pidfile and bridge (198.19.<slot>.1/24) keep it away
from any Docker the user already runs; its managed containerd lives under its exec-root.
There is no service manager here, so "stop the way the service manager would" is a signal
to dockerd, as systemd's KillSignal would send.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import psutil

from lrmatrix import cache, preflight
from lrmatrix.command import CmdResult
from lrmatrix.deadline import poll
from lrmatrix.drivers import planned
from lrmatrix.drivers.base import KERNEL, Node
from lrmatrix.drivers.engine import net as engine_net
from lrmatrix.drivers.planned import Planned
from lrmatrix.drivers.transport import Transport
from lrmatrix.errors import EnvironmentProblem, NodeError
from lrmatrix.evidence import wire
from lrmatrix.matrix import engines
from lrmatrix.matrix.engines import Engine
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.modules.dockerd import Dockerd, server_versions
from lrmatrix.modules.processes import Processes
from lrmatrix.process import DOCKER_DAEMONS, missing_commands, reap_adopted, reap_adopted_daemons, run
from lrmatrix.run import setup_steps

if TYPE_CHECKING:
    from lrmatrix.drivers import NodeSpec
    from lrmatrix.matrix.cells import Cell

STATE_ROOT_DEFAULT = "/var/lib/lrmatrix/nodes"
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
LONGEST_SOCKET = "exec/containerd/containerd.sock.ttrpc"
#: how long the teardown keeps killing what of the node it still finds (a dockerd killed while
#: starting may fork its containerd after the first look)
END_WAIT_S = 10.0
#: how often a stop looks whether dockerd (and its containerd) are gone
GONE_POLL_S = 0.05
#: the workload's containers, removed through the daemon in ``destroy``
PS_ALL = ["docker", "ps", "-aq"]
RM_FORCE = ["docker", "rm", "-f"]
#: the slot a plan shows; a run claims the lowest free one
PLAN_SLOT = 1
#: the Docker API's readiness call, and how long one may take (the CLI's was given 10 s too)
PING, API_TIMEOUT_S = "/_ping", 10.0
#: what ``docker version --format {{.Server.Version}}`` (the other nodes' readiness) asks: the
#: ping, then the version, which dockerd answers after asking containerd for its own (moby
#: daemon/info.go). /_ping alone answers sooner: in a CI run the scenario test that kills
#: containerd twice then killed one dockerd had just started, and none came back in 30 s
READY = (PING, "/version")
#: exists while systemd is the init (sd_booted)
SYSTEMD_RUNNING = Path("/run/systemd/system")


def in_netns(netns_path: str, argv: Sequence[str]) -> list[str]:
    """``argv`` inside the node's network namespace: every command of the node, dockerd too."""
    return ["nsenter", f"--net={netns_path}", *argv]


def state_root() -> Path:
    return Path(os.environ.get("LRMATRIX_STATE_DIR", STATE_ROOT_DEFAULT))


class NetnsTransport(Transport):
    """Local processes inside the node's network namespace, with the node's DOCKER_HOST."""

    NAME = "lrmatrix-engine"

    def __init__(self, netns_path: str, docker_host: str, **kwargs: Any) -> None:
        self.netns_path = netns_path
        self.docker_host = docker_host
        super().__init__("local", **kwargs)

    def exec(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        """No shell in between, and no nsenter: started in the node's namespace (lrmatrix.netns),
        what ``line`` shows."""
        res = run(argv, timeout=timeout, env={"DOCKER_HOST": self.docker_host}, netns=self.netns_path)
        return CmdResult(tuple(argv), res.returncode, res.stdout, res.stderr)

    def line(self, argv: Sequence[str]) -> str:
        return shlex.join([f"DOCKER_HOST={self.docker_host}", *in_netns(self.netns_path, argv)])

    def shell(self, line: str, timeout: float, argv: Sequence[str] = ()) -> CmdResult:
        res = self.exec(["/bin/sh", "-c", line], timeout)
        return CmdResult(tuple(argv) or (line,), res.rc, res.stdout, res.stderr)


class EngineProcesses(Processes):
    """An engine node's processes by name are those in its network namespace (dockerd is
    started in it, and docker-proxy runs in it), found without a shell-out."""

    node: EngineNode

    def by_names(self, names: tuple[str, ...]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {n: [] for n in names}
        inode = self.node.netns_inode
        if inode is not None:
            for pid, cmdline in _netns_procs(inode):
                found.get(Path(cmdline.split()[0]).name, []).append(pid)
        return {n: sorted(pids) for n, pids in found.items()}


class EngineDockerd(Dockerd):
    """An engine node's dockerd: nothing socket-activates it, so its socket may be connected to."""

    node: EngineNode

    def socket_listening(self) -> bool:
        """A connect() to the API socket: nothing socket-activates an engine node's dockerd,
        so connecting cannot bring it back; refused or absent means nothing listens."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(self.node.socket_path)
            except OSError:
                return False
        return True

    # The API's own answers, read in this process: a start polls for the API every 0.1 s and a
    # cell reads info and versions several times, and each `docker` CLI run costs ~16 ms of CPU
    # (~13 of them a cell). The generic module's CLI lines stay what other nodes run.
    def api_ready(self) -> bool:
        try:
            return all(
                wire.unix_http_get(self.node.socket_path, t, API_TIMEOUT_S).status == 200 for t in READY
            )
        except OSError:  # absent, refused, reset or timed out: not answering
            return False

    def info(self) -> dict[str, Any]:
        return dict(self._api_json("/info"))

    def versions(self) -> dict[str, str]:
        return server_versions(self._api_json("/version"))

    def inspect(self, *refs: str) -> list[dict[str, Any]]:
        """What ``docker inspect`` prints of containers is the API's own JSON of each."""
        return [dict(self._api_json(f"/containers/{quote(ref, safe='')}/json")) for ref in refs]

    def _api_json(self, target: str) -> Any:
        """The JSON of a GET that must answer 200; a NodeError naming it otherwise."""
        try:
            reply = wire.unix_http_get(self.node.socket_path, target, 60.0)
        except OSError as exc:
            raise NodeError(f"GET {target} on the Docker API of {self.node.name} failed: {exc}") from exc
        if reply.status != 200:
            body = reply.body.decode(errors="replace").strip()[:200]
            where = f"GET {target} on the Docker API of {self.node.name}"
            raise NodeError(f"{where} answered {reply.status}: {body}")
        return json.loads(reply.body)


class EngineNode(Node):
    scheme = "engine"
    can_pull = False  # its namespace only reaches the host end of its veth
    watches_daemon = True
    samples_nat = True
    procfs_here = True  # a network namespace only: its processes are in this machine's /proc
    dockerd_module = EngineDockerd
    processes_module = EngineProcesses
    requires: ClassVar[dict[str, str]] = {
        "dockerd": "docker.io",
        "docker": "docker.io",
        "containerd": "containerd",
        "runc": "runc",
        "iptables": "iptables",
        "ip": "iproute2",
        "nsenter": "util-linux",
    }

    def __init__(
        self,
        cell: Cell,
        spec: NodeSpec | None = None,
        slot: engine_net.Slot | None = None,
        lock: engine_net.SlotLock | None = None,
        root: Path | None = None,
    ) -> None:
        super().__init__(cell)
        self.slot = slot
        self.lock = lock
        self.root = root or state_root()
        self._destroyed = False
        #: the node's network namespace by inode: its processes are found by it, also once deleted
        self.netns_inode = _inode(slot.netns_path) if slot is not None else None
        self._dockerd: subprocess.Popen[bytes] | None = None
        #: its containers, read from its data-root before that is removed
        self._container_ids: set[str] = set()
        #: the engine the next start_daemon runs (upgrade cells switch it after the window)
        self.engine: Engine = cell.engine

    # --- paths ---------------------------------------------------------------------------
    @property
    def _slot(self) -> engine_net.Slot:
        if self.slot is None:
            raise NodeError("the engine node has not been created")
        return self.slot

    @property
    def state_dir(self) -> Path:
        return self.root / self._slot.name

    @property
    def daemon_json_path(self) -> str:
        return str(self.state_dir / "daemon.json")

    @property
    def socket_path(self) -> str:
        return str(self.state_dir / "docker.sock")

    @property
    def exec_root(self) -> Path:
        return self.state_dir / "exec"

    @property
    def containerd_pidfile(self) -> Path:
        """Where dockerd's managed containerd writes its pid."""
        return self.exec_root / "containerd" / "containerd.pid"

    @property
    def address(self) -> str:
        return self._slot.node_addr

    @property
    def name(self) -> str:
        """The slot's name; "" before one is claimed (a run interrupted that early still writes
        its result)."""
        return self.slot.name if self.slot is not None else ""

    @property
    def work_dir(self) -> str:
        return str(self.state_dir / "workload")

    def loopback_netns(self) -> str | None:
        return self._slot.netns_path

    def logs(self) -> dict[str, bytes]:
        log = self.read_file(str(self.state_dir / "dockerd.log")) if self.slot else None
        return {"dockerd.log": log} if log else {}

    def residue(self) -> list[str]:
        """What of the node is still on this machine: its namespace, veth, folder, mounts,
        cgroup folders, and processes (daemons, and container processes found by cgroup,
        so an orphan whose shim is gone counts too)."""
        if self.slot is None:
            return []
        left = []
        if Path(self.slot.netns_path).exists():
            left.append(f"network namespace {self.slot.name}")
        if run(["ip", "link", "show", self.slot.host_if], timeout=15).returncode == 0:
            left.append(f"veth {self.slot.host_if}")
        if self.state_dir.exists():
            left.append(f"state folder {self.state_dir}")
        left += [f"mount {m}" for m in _mounts_under(self.state_dir)]
        left += [f"process {p.pid} ({p.cmdline[:60]})" for p in self._own_processes()]
        left += [f"cgroup {d}" for d in engine_net.cgroup_dirs(self.slot)]
        return left

    def dockerd_argv(self, dockerd: str | None = None) -> list[str]:
        """``dockerd`` names the binary without fetching it (a plan); by default the engine's."""
        s = self.state_dir
        return [
            dockerd or self.binaries.dockerd(),
            "--config-file",
            self.daemon_json_path,
            "--data-root",
            str(s / "data"),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(s / "docker.pid"),
            "--host",
            f"unix://{self.socket_path}",
        ]

    # --- lifecycle -----------------------------------------------------------------------
    def sanity_checks(self) -> None:
        if not sys.platform.startswith("linux"):
            raise EnvironmentProblem("the engine driver needs Linux (network namespaces, dockerd)")
        if os.geteuid() != 0:
            raise EnvironmentProblem(
                "the engine driver must run as root (it creates a network "
                "namespace and starts dockerd); rerun with sudo"
            )
        missing = missing_commands(self.requires)
        if missing:
            raise EnvironmentProblem(
                f"missing {', '.join(missing)}: install with `apt-get install {' '.join(missing)}`"
            )
        if not Path("/proc/self/ns/net").exists():
            raise EnvironmentProblem("this kernel has no network namespaces (/proc/self/ns/net)")
        named = "LRMATRIX_STATE_DIR" if os.environ.get("LRMATRIX_STATE_DIR") else "the state folder"
        preflight.writable_folder(
            self.root, named, "set LRMATRIX_STATE_DIR to a folder root can write to", EnvironmentProblem
        )
        longest = self.root / f"{engine_net.PREFIX}{engine_net.MAX_SLOTS}" / LONGEST_SOCKET
        if len(str(longest)) > UNIX_PATH_MAX:
            raise EnvironmentProblem(
                f"state folder {self.root} is too long for containerd's unix sockets "
                f"({len(str(longest))} > {UNIX_PATH_MAX} bytes); set LRMATRIX_STATE_DIR to a shorter path"
            )
        res = run(["iptables", "-S"], timeout=15)
        if res.returncode != 0:
            raise EnvironmentProblem(f"iptables does not work here: {res.stderr.strip()}")
        # the offline image and fetched engines live there: a file in its place is one line
        cache.check()
        # fetched (once, cached) and proven to run here before anything changes
        engines.ensure(self.cell.engine)
        if self.cell.engine_after is not None:
            engines.ensure(self.cell.engine_after)

    @property
    def binaries(self) -> engines.Binaries:
        return engines.ensure(self.engine)

    def engine_version(self) -> str:
        """A pinned engine's version is its pin (its binaries were checked against the fetch's
        hashes); the machine's dockerd says its own with ``--version`` (no daemon runs yet)."""
        engine = self.cell.engine
        return self.binaries.docker_version() if engine.is_machine else engines.upstream(engine.docker)

    def switch_engine(self, engine: Engine) -> None:
        """The next start_daemon runs ``engine``'s dockerd and containerd on this node's
        data-root and exec-root (runc stays the machine's)."""
        engines.ensure(engine)
        self.engine = engine

    def create(self) -> None:
        """Claim a slot, wire it, start dockerd. Everything made here is named by the slot, and
        the slot is known to this node (and recorded for `lrmatrix recover`) before any of it
        exists, so ``destroy`` undoes an interrupt at any instant (after the caller has saved
        the daemon log)."""
        engine_net.claim_slot(self.root, self._claimed)
        self.netns_inode = _inode(self._slot.netns_path)
        self.state_dir.mkdir(parents=True, exist_ok=False)
        (self.state_dir / "node.json").write_text(
            json.dumps({"slot": self._slot.index, "cell": self.cell.name})  # marks the folder as a node
        )
        setup_steps.reached("state-folder-made")
        engine_net.wire(self._slot)
        setup_steps.reached("wired")
        # the node's own bridge, and its own cgroup parent: its containers are found by it
        self.write_file(self.daemon_json_path, self.original_daemon_json())
        setup_steps.reached("daemon-json-written")
        self.start_daemon()
        setup_steps.reached("dockerd-ready")

    def original_daemon_json(self) -> bytes:
        """The cell's daemon.json with the node's own bridge and cgroup parent."""
        original = {**self.cell.daemon_json, "bip": self._slot.bip, **self.cgroup_parent()}
        return daemon_config.render(original)

    def _claimed(self, slot: engine_net.Slot | None, lock: engine_net.SlotLock | None) -> None:
        self.slot, self.lock = slot, lock

    def cgroup_parent(self) -> dict[str, str]:
        """The daemon.json key that gives the node's containers a cgroup parent of their own,
        absolute so that it is not nested in the harness's own cgroup (``/lrmatrix-lrm1/<id>``:
        tried on 20.10, 26.1 and 28.5). Only with the cgroupfs driver: systemd's wants a slice
        and could not be tried here (no systemd), so there the containers are found by the
        IDs in the node's data-root (``docker-<id>.scope``)."""
        if systemd_cgroup_driver(self.cell.daemon_json):
            return {}
        return {"cgroup-parent": f"/{self._slot.cgroup_name}"}

    def start_daemon(self) -> None:
        log = (self.state_dir / "dockerd.log").open("ab")
        mark = log.tell()
        # own session: a Ctrl-C in the user's terminal must not reach dockerd directly;
        # the harness decides how the daemon stops.
        self._dockerd = subprocess.Popen(
            in_netns(self._slot.netns_path, self.dockerd_argv()),
            env={**os.environ, **self.binaries.env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        setup_steps.reached("dockerd-started")
        proc = self._dockerd
        try:
            self.dockerd.wait_api(self.cell.timings.ready_timeout_s, alive=lambda: proc.poll() is None)
        except NodeError as exc:
            self._containerd_gone_after_failed_start()
            raise NodeError(f"dockerd did not start on {self.name}: {self.log_excerpt(mark)}") from exc

    def _containerd_gone_after_failed_start(self) -> None:
        """A dockerd that exited while starting (a fatal error: e.g. live-restore on a swarm
        manager) leaves the containerd it started to end on its own, adopted by us: until it is
        reaped the next start waits for it and times out (seen on 20.10)."""
        containerd = self._containerd_pid()
        if containerd is not None and self._dockerd is not None and self._dockerd.poll() is not None:
            self._wait_pid_gone(containerd, self.cell.timings.stop_timeout_s)

    def reload_daemon(self) -> None:
        """SIGHUP straight to the dockerd this node started (no service manager here)."""
        pid = self.daemon_pid()
        if pid is None:
            raise NodeError(f"dockerd of {self.name} is not running: there is nothing to reload")
        os.kill(pid, signal.SIGHUP)

    def log_excerpt(self, since: int = 0) -> str:
        """The daemon's own reason, e.g. an invalid daemon.json key, as one line."""
        try:
            with (self.state_dir / "dockerd.log").open("rb") as fh:
                fh.seek(since)
                lines = fh.read().decode(errors="replace").splitlines()
        except OSError:
            return "no dockerd log"
        bad = [
            ln
            for ln in lines
            if "level=fatal" in ln or "level=error" in ln or ln.startswith(("unable to", "failed to"))
        ]
        return (bad or lines or ["dockerd printed nothing"])[-1].strip()

    def stop_daemon(self, signal_name: str) -> None:
        pid = self.daemon_pid()
        if pid is None:
            return
        containerd = self._containerd_pid()  # read before: dockerd may remove the pidfile
        os.kill(pid, getattr(signal, signal_name))
        timeout = self.cell.timings.stop_timeout_s
        if not self._wait_gone(pid, timeout):
            raise NodeError(f"dockerd (pid {pid}) did not exit within {timeout:.0f}s of {signal_name}")
        if containerd is not None:
            self._wait_containerd_gone(containerd, timeout)

    def _wait_containerd_gone(self, containerd: int, timeout: float) -> None:
        if not self._wait_pid_gone(containerd, timeout):
            raise NodeError(f"dockerd's containerd (pid {containerd}) did not exit within {timeout:.0f}s")

    def _stop_for_teardown(self) -> None:
        """SIGTERM, as ``stop_daemon``; but once dockerd's containerd is gone, SIGKILL. Stopping
        its containerd is the last thing dockerd's shutdown does, then it checks once a second
        whether it has exited (moby's libcontainerd/supervisor/remote_daemon_linux.go,
        stopDaemon, the same in 20.10, 26 and 28): a second per node at teardown spent sleeping.
        The stops a cell measures keep ``stop_daemon``; so does a dockerd whose containerd is not
        its live child (a fault test killed it): its exit would say nothing then."""
        pid, containerd = self.daemon_pid(), self._containerd_pid()
        if pid is None or containerd is None or not _parent_of(pid, containerd):
            self.stop_daemon("SIGTERM")
            return
        os.kill(pid, signal.SIGTERM)
        timeout = self.cell.timings.stop_timeout_s
        self._wait_containerd_gone(containerd, timeout)
        with contextlib.suppress(ProcessLookupError):  # it may have noticed already and exited
            os.kill(pid, signal.SIGKILL)
        if not self._wait_gone(pid, timeout):
            raise NodeError(f"dockerd (pid {pid}) did not exit within {timeout:.0f}s of SIGKILL")

    def _containerd_pid(self) -> int | None:
        try:
            return int(self.containerd_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _wait_pid_gone(self, pid: int, timeout: float) -> bool:
        """Wait until ``pid`` no longer exists at all. dockerd's managed containerd can outlive
        it and, adopted by us, end as a zombie; a zombie still counts as alive to the next
        dockerd (kill(pid, 0) succeeds), which then waits for its socket and times out. Its
        command line empties while it exits, so it is followed by pid, not by name."""

        def gone() -> bool:
            reap_adopted_daemons()
            return not Path(f"/proc/{pid}").exists()

        return poll(gone, timeout, GONE_POLL_S)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        if self._dockerd is not None and self._dockerd.pid == pid:
            try:
                self._dockerd.wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        return poll(lambda: self.processes.proc(pid) is None, timeout, GONE_POLL_S)

    def daemon_pid(self) -> int | None:
        if self._dockerd is not None:
            return self._dockerd.pid if self._dockerd.poll() is None else None
        try:
            pid = int((self.state_dir / "docker.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        info = self.processes.proc(pid)
        return pid if info and self.socket_path in info.cmdline else None

    def destroy(self) -> None:
        """Remove containers, stop dockerd, kill whatever of the node still runs (container
        processes by cgroup too), unmount, remove its cgroups, namespace and state. The slot
        stays locked until ``release``; a second call does nothing."""
        if self.slot is None or self._destroyed:
            return
        self._destroyed = True
        if self.netns_inode is None:  # interrupted between `ip netns add` and reading its inode
            self.netns_inode = _inode(self.slot.netns_path)
        self._container_ids |= self._data_root_containers()
        if self.state_dir.is_dir():
            self._remove_workload()
            if self.daemon_pid() is not None:
                try:
                    self._stop_for_teardown()
                except NodeError:
                    self._kill(self.daemon_pid())
        self._end_processes()
        for target in _mounts_under(self.state_dir):
            run(["umount", "-l", target], timeout=15)
        _remove_cgroups(self.slot)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        engine_net.release(self.slot)
        # only what dockerd left to us: a blanket waitpid(-1) would also take the exit status
        # of subprocesses the caller owns
        reap_adopted_daemons()

    def release(self) -> None:
        if self.lock is not None:
            if self._destroyed and self.slot is not None:
                engine_net.slot_record(self.slot).unlink(missing_ok=True)
            self.lock.release()

    def _own_processes(self) -> list[_HostProc]:
        """This node's processes and nothing else's: its dockerd, containerd and shims, matched
        on the node's folder with its trailing slash (lrm1/ is not lrm10/) and on the command;
        anything inside its network namespace (docker-proxy's argv names no folder), known by
        inode so also once deleted; and its containers' processes, by cgroup (the node's
        cgroup parent, or a container ID of its data-root), so also once their shim is gone."""
        if self.slot is None:
            return []
        folder = f"{self.state_dir}/"
        in_containers = self._in_containers()
        return [
            p
            for p in _host_procs()
            if (folder in p.cmdline and Path(p.cmdline.split()[0]).name in DOCKER_DAEMONS)
            or (self.netns_inode is not None and p.netns == self.netns_inode)
            or in_containers(p.cgroup)
        ]

    def _in_containers(self) -> Callable[[str], bool]:
        """Whether a /proc/<pid>/cgroup text puts a process in one of the node's containers."""
        assert self.slot is not None
        parent, ids = self.slot.cgroup_name, self._container_ids | self._data_root_containers()
        return lambda text: _in_cgroups(text, parent, ids)

    def _data_root_containers(self) -> set[str]:
        """IDs of the containers in the node's data-root: a container of a former cgroup parent
        (or the engine's default, /docker/<id>) is still found by its ID."""
        if self.slot is None:
            return set()
        try:
            return {e.name for e in (self.state_dir / "data" / "containers").iterdir() if len(e.name) == 64}
        except OSError:
            return set()

    def _end_processes(self) -> None:
        """SIGKILL what of the node still runs, until nothing is found: a process forked after
        one look (containerd by a dockerd killed while starting) is caught by the next."""

        def none_left() -> bool:
            left = self._own_processes()
            for p in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
            reap_adopted_daemons()
            return not left

        poll(none_left, END_WAIT_S, 0.05)
        # its container processes, adopted by this harness (a subreaper) when their shim
        # went: no zombie of the node is left in its cgroup
        in_containers = self._in_containers()
        reap_adopted(lambda child: in_containers(_cgroup_of(child.pid)))

    def _remove_workload(self) -> None:
        """Containers must go through the daemon, or their shims and mounts stay behind."""
        if self.daemon_pid() is None and self._own_processes():
            try:  # interrupted mid-outage with live-restore: bring the daemon back to clean up
                self.start_daemon()
            except NodeError:
                return
        if self.daemon_pid() is None:
            return
        ids = self.run(PS_ALL).stdout.split()
        if ids:
            self.run([*RM_FORCE, *ids], timeout=60)

    # --- what each operation runs (``lrmatrix plan CELL --commands``) ----------------------
    def plan_view(self) -> EngineNode:
        """This node as a plan shows it: on the first slot if none is claimed yet, with its
        own destroy disabled (it was never made)."""
        if self.slot is not None:
            return self
        view = EngineNode(self.cell, slot=engine_net.Slot(PLAN_SLOT), root=self.root)
        view._destroyed = True
        return view

    def plan_binaries(self) -> engines.Binaries:
        """Where ``engines.ensure`` keeps this engine's binaries, named without fetching them."""
        if self.engine.is_machine:
            return engines.Binaries(self.engine)
        return engines.Binaries(self.engine, engines.cache_dir() / self.engine.version)

    def plan_create(self) -> list[Planned]:
        slot = self._slot
        text = json.dumps(json.loads(self.original_daemon_json())) + " (as rendered JSON)"
        return [
            planned.note(f"slot {slot.name} shown: a run claims the lowest free one ({slot.node_addr} here)"),
            Planned("run", shlex.join(engine_net.netns_add_argv(slot))),
            *(Planned("run", shlex.join(["ip", *args])) for args in engine_net.wire_args(slot)),
            *self.plan_write(self.daemon_json_path, text),
            *self.plan_start(),
        ]

    def plan_start(self) -> list[Planned]:
        binaries = self.plan_binaries()
        env = [f"{k}={v}" for k, v in binaries.env().items()]
        argv = in_netns(self._slot.netns_path, self.dockerd_argv(binaries.dockerd()))
        bound = self.cell.timings.ready_timeout_s
        return [
            Planned("run", shlex.join([*env, *argv])),
            planned.note(f"in its own session, its output to {self.state_dir / 'dockerd.log'}"),
            planned.wait(
                f"GET {' and '.join(READY)} on {self.socket_path} answer (every 0.1 s), or dockerd exits",
                bound,
            ),
        ]

    def plan_versions(self) -> list[Planned]:
        return [Planned("api", f"GET /version on {self.socket_path}"), self.planned(list(KERNEL))]

    def plan_stop(self, signal_name: str) -> list[Planned]:
        bound = self.cell.timings.stop_timeout_s
        return [
            self._planned_signal(signal_name),
            self._planned_dockerd_exit(bound),
            planned.wait(f"its containerd ({self.containerd_pidfile}) is gone", bound),
        ]

    def _planned_signal(self, signal_name: str) -> Planned:
        return Planned(
            "signal",
            f"{signal_name} to dockerd (the one this node started; else {self.state_dir}/docker.pid)",
        )

    def _planned_dockerd_exit(self, bound: float) -> Planned:
        return planned.wait(f"dockerd has exited (every {GONE_POLL_S:g} s)", bound)

    def _plan_stop_for_teardown(self) -> list[Planned]:
        bound = self.cell.timings.stop_timeout_s
        return [
            self._planned_signal("SIGTERM"),
            planned.wait(
                f"its containerd ({self.containerd_pidfile}) is gone: the end of dockerd's shutdown", bound
            ),
            Planned("signal", "SIGKILL to dockerd, which would check for that once a second"),
            self._planned_dockerd_exit(bound),
        ]

    def plan_reload(self) -> list[Planned]:
        return [Planned("signal", "SIGHUP to dockerd (no service manager here)")]

    def plan_read(self, path: str) -> list[Planned]:
        return [Planned("run", f"read {path} (on this machine)")]

    def plan_destroy(self) -> list[Planned]:
        return [
            self.planned(PS_ALL),
            self.planned([*RM_FORCE, "<each id>"]),
            *self._plan_stop_for_teardown(),
            Planned(
                "signal", f"SIGKILL to what of {self._slot.name} still runs (by namespace, folder, cgroup)"
            ),
            planned.wait("none is left", END_WAIT_S),
            Planned("run", f"umount -l <each mount under {self.state_dir}>"),
            planned.note(f"its cgroup folders removed, then {self.state_dir}"),
            *(Planned("run", shlex.join(argv)) for argv in engine_net.release_argvs(self._slot)),
        ]

    def _kill(self, pid: int | None) -> None:
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._wait_gone(pid, 5)

    @classmethod
    def leftovers(cls, cell: Cell) -> list[EngineNode]:
        """Nodes left by a harness that could not clean up (SIGKILL, power loss): namespaces,
        slot records and state folders named like ours. A slot whose lock a live run holds is
        not a leftover and is never returned."""
        slots = {s.index: s for s in engine_net.leftover_slots()}
        root = state_root()
        if root.is_dir():
            for entry in root.iterdir():
                suffix = entry.name.removeprefix(engine_net.PREFIX)
                if suffix.isdigit() and (entry / "node.json").exists():
                    slots.setdefault(int(suffix), engine_net.Slot(int(suffix)))
        found = []
        for _, slot in sorted(slots.items()):
            lock = engine_net.SlotLock(slot)
            if lock.try_acquire():
                found.append(cls(cell, slot=slot, lock=lock, root=_recorded_root(slot) or root))
        return found

    def import_image(self, tarball: str, tag: str, cmd: str) -> None:
        setup_steps.reached("image-importing")
        super().import_image(tarball, tag, cmd)
        setup_steps.reached("image-imported")

    # --- access --------------------------------------------------------------------------
    @property
    def transport(self) -> NetnsTransport:
        return NetnsTransport(self._slot.netns_path, f"unix://{self.socket_path}")

    def read_file(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
            return None

    def write_file(self, path: str, data: bytes) -> None:
        with Path(path).open("r+b" if Path(path).exists() else "wb") as fh:
            fh.truncate(0)
            fh.write(data)


def _recorded_root(slot: engine_net.Slot) -> Path | None:
    try:
        return Path(json.loads(engine_net.slot_record(slot).read_text())["state_root"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _inode(path: str) -> int | None:
    try:
        return Path(path).stat().st_ino
    except OSError:
        return None


def systemd_cgroup_driver(daemon_json: dict[str, Any]) -> bool:
    """Whether a dockerd with this daemon.json uses the systemd cgroup driver: as moby's
    UsingSystemd, the one named in exec-opts, else systemd on a cgroup v2 host."""
    for opt in daemon_json.get("exec-opts") or []:
        key, _, value = str(opt).partition("=")
        if key.strip() == "native.cgroupdriver":
            return value.strip() == "systemd"
    unified = (engine_net.CGROUP_ROOT / "cgroup.controllers").exists()
    return unified and SYSTEMD_RUNNING.is_dir()


def _in_cgroups(cgroup: str, parent: str, ids: set[str]) -> bool:
    """Whether a /proc/<pid>/cgroup text puts the process under ``parent`` or in the cgroup
    of a container of ``ids`` (cgroupfs: .../<id>; systemd: docker-<id>.scope)."""
    for line in cgroup.splitlines():
        for part in line.split(":", 2)[-1].split("/"):
            if part == parent or part.removeprefix("docker-").removesuffix(".scope") in ids:
                return True
    return False


def _parent_of(parent: int, child: int) -> bool:
    """Whether ``child`` runs and is ``parent``'s (a pid file's number may be stale, or reused)."""
    try:
        return psutil.Process(child).ppid() == parent
    except psutil.Error:
        return False


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (the order to unmount them in)."""
    prefix = str(root)
    points = {p.mountpoint for p in psutil.disk_partitions(all=True)}
    mine = [m for m in points if m == prefix or m.startswith(prefix + "/")]
    return sorted(mine, key=len, reverse=True)


def _remove_cgroups(slot: engine_net.Slot) -> None:
    """The node's cgroup parent, once no process is left in it: runc removes a container's
    own cgroup but never the parent, and nothing does when runc was not there to stop it.
    A killed process may stay in it for a moment, so this tries again for a while."""

    def removed() -> bool:
        for folder in engine_net.cgroup_dirs(slot):
            for sub, _dirs, _files in os.walk(folder, topdown=False):  # children first
                with contextlib.suppress(OSError):  # busy or already gone: residue() says which
                    Path(sub).rmdir()
        return not engine_net.cgroup_dirs(slot)

    poll(removed, END_WAIT_S, 0.1)


def _host_procs(with_cgroup: bool = True) -> Iterator[_HostProc]:
    """Every live process on this machine but this harness, with what tells whose it is
    (psutil has neither a process's network namespace nor its cgroups: read from /proc);
    zombies are left out (they have no command and cannot be killed: they are reaped)."""
    me = os.getpid()
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(p.info["cmdline"] or ())
        if p.pid == me or not cmdline or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            netns = Path(f"/proc/{p.pid}/ns/net").stat().st_ino
            cgroup = _cgroup_of(p.pid) if with_cgroup else ""
        except OSError:  # gone meanwhile
            continue
        yield _HostProc(p.pid, cmdline, netns, cgroup)


def _netns_procs(inode: int) -> Iterator[tuple[int, str]]:
    """The live processes in the network namespace ``inode`` (but this harness), with their
    command lines. The namespace is compared first, one stat a process, and only a match is
    read: the daemon watch scans every 100 ms of an outage, and reading the command line and
    status of each of the machine's ~100 processes (``_host_procs``) cost ~12 ms a scan,
    ~0.5 CPU-s a cell. A zombie has no namespace and no command line: it is left out."""
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if Path(f"/proc/{entry.name}/ns/net").stat().st_ino != inode:
                continue
            raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        text = raw.decode(errors="replace")  # as psutil joins it: one trailing separator off
        if text:
            yield int(entry.name), (text[:-1] if text.endswith(("\0", " ")) else text).replace("\0", " ")


def _cgroup_of(pid: int) -> str:
    """/proc/<pid>/cgroup (also of a zombie); raises OSError once the process is gone."""
    return Path(f"/proc/{pid}/cgroup").read_text()


@dataclass(frozen=True)
class _HostProc:
    pid: int
    cmdline: str
    netns: int | None = None
    cgroup: str = ""
