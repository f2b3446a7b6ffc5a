"""The engine driver: a dockerd the harness starts in its own network namespace.

Its own data-root, exec-root, socket, pidfile and bridge (198.19.<slot>.1/24) keep it away
from any Docker the user already runs; its managed containerd lives under its exec-root.
There is no service manager here, so "stop the way the service manager would" is a signal
to dockerd, as systemd's KillSignal would send.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lrmatrix import preflight
from lrmatrix.command import CmdResult
from lrmatrix.deadline import poll
from lrmatrix.drivers.base import Node
from lrmatrix.drivers.engine import net as engine_net
from lrmatrix.drivers.transport import Transport
from lrmatrix.errors import EnvironmentProblem, NodeError
from lrmatrix.matrix import engines
from lrmatrix.matrix.engines import Engine
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.modules.dockerd import Dockerd
from lrmatrix.modules.processes import Processes
from lrmatrix.modules.procfs import parse_stat
from lrmatrix.process import DOCKER_DAEMONS, missing_commands, reap_adopted_daemons, run

if TYPE_CHECKING:
    from lrmatrix.drivers import NodeSpec
    from lrmatrix.matrix.cells import Cell

STATE_ROOT_DEFAULT = "/var/lib/lrmatrix/nodes"
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
LONGEST_SOCKET = "exec/containerd/containerd.sock.ttrpc"


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
        """No shell in between: the argv goes to nsenter as it is."""
        res = run(
            ["nsenter", f"--net={self.netns_path}", *argv],
            timeout=timeout,
            env={"DOCKER_HOST": self.docker_host},
        )
        return CmdResult(tuple(argv), res.returncode, res.stdout, res.stderr)

    def shell(self, line: str, timeout: float, argv: Sequence[str] = ()) -> CmdResult:
        res = self.exec(["/bin/sh", "-c", line], timeout)
        return CmdResult(tuple(argv) or (line,), res.rc, res.stdout, res.stderr)


class EngineProcesses(Processes):
    """An engine node's processes by name are those in its network namespace (dockerd is
    started in it, and docker-proxy runs in it), found without a shell-out."""

    node: EngineNode

    def by_names(self, names: tuple[str, ...]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {n: [] for n in names}
        if self.node.netns_inode is not None:
            for p in _host_procs_in_netns(self.node.netns_inode):
                found.get(Path(p.cmdline.split()[0]).name, []).append(p.pid)
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


class EngineNode(Node):
    scheme = "engine"
    can_pull = False  # its namespace only reaches the host end of its veth
    watches_daemon = True
    samples_nat = True
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
    def address(self) -> str:
        return self._slot.node_addr

    @property
    def name(self) -> str:
        return self._slot.name

    @property
    def work_dir(self) -> str:
        return str(self.state_dir / "workload")

    def loopback_netns(self) -> str | None:
        return self._slot.netns_path

    def logs(self) -> dict[str, bytes]:
        log = self.read_file(str(self.state_dir / "dockerd.log")) if self.slot else None
        return {"dockerd.log": log} if log else {}

    def residue(self) -> list[str]:
        left = []
        if self.slot is not None:
            if Path(self.slot.netns_path).exists():
                left.append(f"network namespace {self.slot.name}")
            if run(["ip", "link", "show", self.slot.host_if], timeout=15).returncode == 0:
                left.append(f"veth {self.slot.host_if}")
            if self.state_dir.exists():
                left.append(f"state folder {self.state_dir}")
            left += [f"process {p.pid} ({p.cmdline[:60]})" for p in self._own_daemons()]
        return left

    def dockerd_argv(self) -> list[str]:
        s = self.state_dir
        return [
            self.binaries.dockerd(),
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
        # fetched (once, cached) and proven to run here before anything changes
        engines.ensure(self.cell.engine)
        if self.cell.engine_after is not None:
            engines.ensure(self.cell.engine_after)

    @property
    def binaries(self) -> engines.Binaries:
        return engines.ensure(self.engine)

    def switch_engine(self, engine: Engine) -> None:
        """The next start_daemon runs ``engine``'s dockerd and containerd on this node's
        data-root and exec-root (runc stays the machine's)."""
        engines.ensure(engine)
        self.engine = engine

    def create(self) -> None:
        """Claim a slot, wire it, start dockerd. On failure the caller's ``destroy`` undoes
        whatever part was made (after it has saved the daemon log)."""
        self.slot, self.lock = engine_net.claim_slot(self.root)
        # beside the lock, so `lrmatrix recover` finds this node's state whatever its own
        # LRMATRIX_STATE_DIR is
        engine_net.slot_record(self.slot).write_text(json.dumps({"state_root": str(self.root)}))
        self.netns_inode = _inode(self.slot.netns_path)
        self.state_dir.mkdir(parents=True, exist_ok=False)
        (self.state_dir / "node.json").write_text(
            json.dumps({"slot": self.slot.index, "cell": self.cell.name})  # marks the folder as a node
        )
        engine_net.wire(self.slot)
        original = {**self.cell.daemon_json, "bip": self.slot.bip}
        self.write_file(self.daemon_json_path, daemon_config.render(original))
        self.start_daemon()

    def start_daemon(self) -> None:
        log = (self.state_dir / "dockerd.log").open("ab")
        mark = log.tell()
        # own session: a Ctrl-C in the user's terminal must not reach dockerd directly;
        # the harness decides how the daemon stops.
        self._dockerd = subprocess.Popen(
            ["nsenter", f"--net={self._slot.netns_path}", *self.dockerd_argv()],
            env={**os.environ, **self.binaries.env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        proc = self._dockerd
        try:
            self.dockerd.wait_api(self.cell.timings.ready_timeout_s, alive=lambda: proc.poll() is None)
        except NodeError as exc:
            raise NodeError(f"dockerd did not start on {self.name}: {self.log_excerpt(mark)}") from exc

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
        if containerd is not None and not self._wait_pid_gone(containerd, timeout):
            raise NodeError(f"dockerd's containerd (pid {containerd}) did not exit within {timeout:.0f}s")

    def _containerd_pid(self) -> int | None:
        try:
            return int((self.exec_root / "containerd" / "containerd.pid").read_text().strip())
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

        return poll(gone, timeout, 0.05)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        if self._dockerd is not None and self._dockerd.pid == pid:
            try:
                self._dockerd.wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        return poll(lambda: self.processes.proc(pid) is None, timeout, 0.05)

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
        """Remove containers, stop dockerd, kill stragglers, unmount, delete namespace and state.
        The slot stays locked until ``release``; a second call does nothing."""
        if self.slot is None or self._destroyed:
            return
        self._destroyed = True
        if self.state_dir.is_dir():
            self._remove_workload()
            if self.daemon_pid() is not None:
                try:
                    self.stop_daemon("SIGTERM")
                except NodeError:
                    self._kill(self.daemon_pid())
            for info in self._own_daemons():
                self._kill(info.pid)
            self._unmount_all()
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

    def _own_daemons(self) -> list[_HostProc]:
        """This node's processes and nothing else's: its dockerd, containerd and shims, matched
        on the node's folder with its trailing slash (lrm1/ is not lrm10/) and on the command,
        plus anything inside its network namespace (docker-proxy's argv names no folder). The
        namespace is known by inode, so this still finds them after it was deleted."""
        by_folder = [
            p for p in _host_procs_mentioning(f"{self.state_dir}/")
            if Path(p.cmdline.split()[0]).name in DOCKER_DAEMONS
        ]  # fmt: skip
        found = {p.pid: p for p in by_folder}
        if self.netns_inode is not None:
            found.update((p.pid, p) for p in _host_procs_in_netns(self.netns_inode))
        return sorted(found.values(), key=lambda p: p.pid)

    def _remove_workload(self) -> None:
        """Containers must go through the daemon, or their shims and mounts stay behind."""
        if self.daemon_pid() is None and self._own_daemons():
            try:  # interrupted mid-outage with live-restore: bring the daemon back to clean up
                self.start_daemon()
            except NodeError:
                return
        if self.daemon_pid() is None:
            return
        ids = self.dockerd.cli("ps", "-aq").stdout.split()
        if ids:
            self.dockerd.cli("rm", "-f", *ids, timeout=60)

    def _kill(self, pid: int | None) -> None:
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._wait_gone(pid, 5)

    def _unmount_all(self) -> None:
        root = str(self.state_dir)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for target in sorted(
            (m for m in mounts if m == root or m.startswith(root + "/")), key=len, reverse=True
        ):
            run(["umount", "-l", target], timeout=15)

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


def _host_procs_in_netns(inode: int) -> list[_HostProc]:
    """Processes whose network namespace is the one with ``inode`` (never this harness)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "ns" / "net").stat().st_ino != inode:
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd:  # zombies have none and cannot be killed; they are reaped
            found.append(_HostProc(int(entry.name), cmd.strip()))
    return found


def _host_procs_mentioning(needle: str) -> list[_HostProc]:
    """Live processes on this machine whose command line contains ``needle`` (no shell-out,
    so it works after the namespace is gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = parse_stat((entry / "stat").read_text())
        except OSError:
            continue
        if needle in cmd and stat is not None and not stat.zombie:
            found.append(_HostProc(int(entry.name), cmd.strip()))
    return found


@dataclass(frozen=True)
class _HostProc:
    pid: int
    cmdline: str
