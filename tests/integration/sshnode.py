"""Throwaway staging nodes for the ssh driver, built on this machine for one test module.

``StagingNode`` holds what every flavour shares: a network namespace of its own (``lrmssh<N>``,
host 198.18.N.1, node 198.18.N.2), a PID namespace whose init takes everything along when it
exits, per-node keys, host key and known_hosts (auth is key-only), and a root console that does
not go through the driver under test. Flavours:

- ``SysvNode`` (here, slot 200): sshd and Debian's docker.io of this machine in mount
  namespaces with tmpfs over /run, /var/lib, /var/log and /etc/docker; tini is the init and
  dockerd is started and stopped only through /etc/init.d/docker, as on a Debian host
  without systemd.
- ``SystemdNode`` (systemdnode.py, slot 201): a Debian tree booted with systemd as PID 1, Docker
  managed by the real docker.service and docker.socket.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

import psutil

from conftest import engine_ready
from lrmatrix.deadline import poll
from lrmatrix.drivers import NodeSpec
from lrmatrix.drivers.engine import net as engine_net
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.process import run

if TYPE_CHECKING:
    from lrmatrix.drivers.ssh.node import SshNode

DAEMON_JSON = "/etc/docker/daemon.json"
# an administrator's file, not in lrmatrix's own layout: a re-render would not be byte-identical;
# the node's Docker bridge in the benchmarking range
SEEDED = (
    b'{\n    "bip": "198.19.200.1/24",\n    "log-driver": "json-file",\n    "log-opts": {"max-size": "1m"}\n}'
)
NO_DOCKER_PORT = 2201  # sessions on this port have no docker on PATH: "a node without docker"
INIT = shutil.which("tini") or shutil.which("docker-init")
PR_SET_PDEATHSIG = 1

SSHD_CONFIG = """\
HostKey {tmp}/ssh_host_ed25519_key
AuthorizedKeysFile {tmp}/authorized_keys
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the keys live in a temp folder below the world-writable /tmp
StrictModes no
AllowTcpForwarding no
X11Forwarding no
UseDNS no
Subsystem sftp internal-sftp
LogLevel VERBOSE
Match LocalPort {no_docker_port}
    SetEnv PATH=/nonexistent
"""

# Debian's init script mounts every enabled-but-unmounted cgroup v1 controller unless fstab
# mentions cgroup; here that would create directories in this machine's /sys/fs/cgroup.
FSTAB = "# lrmatrix staging node: cgroups are the host's\nnone /sys/fs/cgroup cgroup defaults 0 0\n"
# Without CAP_SYS_RESOURCE (containers) the script's `ulimit -n 1048576` fails under `set -e`.
ULIMIT_SHIM = 'ulimit() { command ulimit "$@" 2>/dev/null || true; }\n'

NODE_INIT = """\
set -e
for d in /run /var/lib /var/log /etc/docker; do mount -t tmpfs -o mode=0755 lrmssh "$d"; done
mkdir -p /run/sshd /run/lock
mount --bind "$1/fstab" /etc/fstab
if [ -f "$1/default-docker" ]; then mount --bind "$1/default-docker" /etc/default/docker; fi
hostname lrmssh-node
exec "$2" -- /usr/sbin/sshd -D -e -f "$1/sshd_config" \
    -o ListenAddress="$3:22" -o ListenAddress="$3:$4"
"""

CLEAN_SHUTDOWN = """\
service docker status >/dev/null || service docker start </dev/null
for i in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker ps -aq | xargs -r docker rm -f
service docker stop </dev/null
"""


def why_not_ready() -> str | None:
    """Why a sysvinit staging node cannot be built here, or None."""
    reason = engine_ready()
    if reason:
        return reason
    for path in ("/usr/sbin/sshd", "/etc/init.d/docker"):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install openssh-server docker.io)"
    for cmd, package in (("ssh-keygen", "openssh-client"), ("unshare", "util-linux")):
        if shutil.which(cmd) is None:
            return f"{cmd} is not installed (apt-get install {package})"
    if INIT is None:
        return "tini (docker.io's docker-init) is not installed (apt-get install docker.io)"
    return None


@dataclass(frozen=True)
class SshSlot(engine_net.Slot):
    """A staging node's addresses under a name that `lrmatrix recover` does not take for an engine node."""

    @property
    def name(self) -> str:
        return f"lrmssh{self.index}"


def _die_with_parent() -> None:
    """If pytest is killed, the node goes too (unshare --kill-child takes its init along)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair; returns the public key line."""
    res = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], timeout=30)
    if res.returncode != 0:
        raise RuntimeError(f"ssh-keygen failed: {res.stderr.strip()}")
    return Path(f"{path}.pub").read_text().strip()


def driver(node: StagingNode, cell: str = "engine-liverestore", **options: str) -> SshNode:
    """The driver under test, pointed at the staging node with its key and known_hosts."""
    from lrmatrix.drivers.ssh.node import SshNode  # needs paramiko, which test modules check first

    options = {"known_hosts": str(node.known_hosts), "identity": str(node.key), **options}
    return SshNode(
        load_matrix().cell(cell), NodeSpec.parse(node.spec, {"allow_disruption": "true", **options})
    )


class StagingNode:
    """What every flavour shares; a flavour says how the node boots, stops and runs dockerd."""

    INDEX: ClassVar[int]
    HOSTNAME: ClassVar[str]
    #: a console command that shows the end of dockerd's log (for a start that failed)
    DOCKER_LOG: ClassVar[str]
    #: the init system the ssh driver should find there (the record's service_manager)
    MANAGER: ClassVar[str]
    #: a console script that starts dockerd the init system's way if it is not running
    ENSURE_DOCKER: ClassVar[str]
    #: a console command that tells whether the init system has dockerd stopped, and its words for it
    DOCKER_STATE: ClassVar[str]
    DOCKER_STOPPED: ClassVar[tuple[str, ...]]
    #: starts dockerd the init system's way when it is not running (a respawning supervisor)
    RESPAWN: ClassVar[str]
    #: one word from the init system about dockerd, without connecting to its socket
    UNIT_STATE: ClassVar[str] = "echo -"
    #: how a root console enters the node (namespaces of its init)
    ENTER: ClassVar[tuple[str, ...]] = ("--mount", "--net", "--pid", "--uts")

    def __init__(self) -> None:
        self.slot = SshSlot(self.INDEX)
        self.tmp = Path(tempfile.mkdtemp(prefix="lrmssh-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.init_pid: int | None = None
        self.own_network = False
        self.lock: engine_net.SlotLock | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[Self]:
        node = cls()
        try:
            node.start()
            yield node
        finally:
            node.stop()

    # --- what a client needs -------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.slot.node_addr

    @property
    def spec(self) -> str:
        return f"ssh://root@{self.host}"

    @property
    def key(self) -> Path:
        return self.tmp / "id_ed25519"

    @property
    def other_key(self) -> Path:
        """A key the node does not authorize."""
        return self.tmp / "other_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.tmp / "known_hosts"

    def client_env(self, **override: str) -> dict[str, str]:
        """Environment for a harness run against this node: its key and known_hosts, no agent."""
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        env.update(LRMATRIX_SSH_KNOWN_HOSTS=str(self.known_hosts), LRMATRIX_SSH_KEY=str(self.key))
        env.update(override)
        return env

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._claim_network()
        self._write_files()
        self.proc = self._launch()
        self._wait_banner()
        self.init_pid = self._find_init()
        self._start_docker()
        self.wait_docker()

    def _claim_network(self) -> None:
        self.lock = engine_net.SlotLock(self.slot)
        if not self.lock.try_acquire():
            raise RuntimeError(f"{self.slot.name} is in use by another run")
        if Path(self.slot.netns_path).exists():
            engine_net.release(self.slot)  # left by a run that was killed
        clash = [
            str(n) for n in engine_net.networks_in_use() for mine in self.slot.networks() if n.overlaps(mine)
        ]
        if clash:
            raise RuntimeError(f"{', '.join(sorted(set(clash)))} already in use on this machine")
        res = run(["ip", "netns", "add", self.slot.name], timeout=15)
        if res.returncode != 0:
            raise RuntimeError(f"ip netns add {self.slot.name}: {res.stderr.strip()}")
        self.own_network = True
        engine_net.wire(self.slot)

    def _write_keys(self) -> list[str]:
        """Client keys and known_hosts; returns the host key's public line (type, key)."""
        host_key = keygen(self.tmp / "ssh_host_ed25519_key", "lrmssh-node").split()[:2]
        (self.tmp / "authorized_keys").write_text(keygen(self.key, "lrmssh-client") + "\n")
        keygen(self.other_key, "lrmssh-stranger")
        self.known_hosts.write_text(f"{self.host} {' '.join(host_key)}\n")
        return host_key

    def _write_files(self) -> None:
        self._write_keys()

    def _launch(self) -> subprocess.Popen[bytes]:
        """Start the node's init in its namespaces; the Popen is the node's parent."""
        raise NotImplementedError

    def _popen(self, argv: list[str], setup: Callable[[], None] = lambda: None) -> subprocess.Popen[bytes]:
        def child() -> None:
            _die_with_parent()
            setup()

        with (self.tmp / "node.log").open("wb") as log:
            return subprocess.Popen(
                ["nsenter", f"--net={self.slot.netns_path}", *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=child,
            )

    def _wait_banner(self, timeout: float = 30) -> None:
        proc = self.proc
        assert proc is not None
        if poll(lambda: proc.poll() is not None or self._banner(), timeout, 0.1) and proc.poll() is None:
            return
        raise RuntimeError(f"the staging node's sshd did not start: {self.log()[-800:]}")

    def _find_init(self) -> int:
        """The node's PID 1: the child of unshare (nsenter execs unshare, so that is self.proc)."""
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children()[0].pid

    def _start_docker(self) -> None:
        """Bring dockerd up the way the node's init system does, if booting did not."""

    def _banner(self) -> bool:
        try:
            with socket.create_connection((self.host, 22), timeout=1) as conn:
                return conn.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def log(self) -> str:
        return (self.tmp / "node.log").read_text(errors="replace")

    def stop(self) -> None:
        """Everything goes, also after a failed test: daemons, namespaces, veth, temp files."""
        try:
            if self.proc is not None and self.proc.poll() is None and self.init_pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    # through dockerd, also after a test left it stopped: runc then removes the
                    # containers' cgroups
                    self._shut_down()
            self._end_node()
        finally:
            try:
                self._after_end()
            finally:
                if self.own_network:
                    engine_net.release(self.slot)
                if self.lock is not None:
                    self.lock.release()
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _shut_down(self) -> None:
        """Stop the node from its console the way it would stop itself."""

    def _after_end(self) -> None:
        """What outlives the node's processes (cgroups, ...), removed once they are gone."""

    def _end_node(self) -> None:
        """SIGTERM to the init, which takes the node down; the kernel kills the rest of the node."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
                return
        # unshare --kill-child takes the node's init, and so the whole node, along
        self.proc.kill()
        self.proc.wait(timeout=10)

    # --- a root console on the node, independent of the driver under test -------------------
    @property
    def enter(self) -> list[str]:
        return ["nsenter", "--target", str(self.init_pid), *self.ENTER]

    def console(
        self, script: str, timeout: float = 60, data: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        assert self.init_pid is not None
        return subprocess.run(
            [*self.enter, "/bin/sh", "-c", script],
            input=data if data is not None else b"",
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def sh(self, script: str, timeout: float = 60) -> str:
        res = self.console(script, timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{script!r} failed on the staging node: {res.stderr.decode().strip()}")
        return res.stdout.decode()

    def read(self, path: str) -> bytes | None:
        res = self.console(f'if [ -e "{path}" ]; then cat "{path}"; else exit 3; fi')
        return None if res.returncode == 3 else res.stdout

    def write(self, path: str, data: bytes) -> None:
        if self.console(f'cat > "{path}"', data=data).returncode != 0:
            raise RuntimeError(f"cannot write {path} on the staging node")

    def remove(self, path: str) -> None:
        self.sh(f'rm -f "{path}"')

    def wait_docker(self, timeout: float = 30) -> None:
        if not poll(lambda: self.console("docker version >/dev/null 2>&1").returncode == 0, timeout, 0.2):
            raise RuntimeError(f"the staging node's dockerd did not answer: {self.sh(self.DOCKER_LOG)}")

    @contextlib.contextmanager
    def watch_dockerd(self, interval: float = 0.1, limit_s: float = 600) -> Iterator[list[Sample]]:
        """The init system's word on dockerd and dockerd's pids, sampled from the node's own
        console every ``interval`` until the block ends (at most ``limit_s``), in wall time."""
        # as respawning's loop, it ends itself once the stop file exists: terminating nsenter
        # left it sampling (and its pipe open, so the reader waited out its 10 s) after each test
        stop = "/run/lrm-watch-stop"
        script = (
            f"rm -f {stop}; for i in $(seq {int(limit_s / interval)}); do test -e {stop} && exit 0; "
            f'echo "$(date +%s.%N) $({self.UNIT_STATE}) $(pidof dockerd)"; sleep {interval}; done'
        )
        argv = [*self.enter, "/bin/sh", "-c", script]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        samples: list[Sample] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                at, *words = line.split()
                state = " ".join(w for w in words if not w.isdigit()) or "unknown"
                samples.append(Sample(float(at), state, tuple(int(w) for w in words if w.isdigit())))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            yield samples
        finally:
            self.sh(f"touch {stop}")
            proc.wait(timeout=10 + 2 * interval)
            reader.join(timeout=10)
            self.remove(stop)

    @contextlib.contextmanager
    def respawning(self, period: float = 0.5, limit_s: float = 300) -> Iterator[None]:
        """The init system's start in a respawning loop (as a supervisor that restarts dockerd
        would): whenever dockerd is gone it is started again, until the block ends."""
        # nsenter forks into the PID namespace: terminating it leaves the loop running, so the
        # loop ends itself once the stop file exists (it once kept respawning into later tests)
        stop = "/run/lrm-respawn-stop"
        script = (
            f"rm -f {stop}; for i in $(seq {int(limit_s / period)}); do test -e {stop} && exit 0; "
            f"{self.RESPAWN}; sleep {period}; done"
        )
        loop = subprocess.Popen([*self.enter, "/bin/sh", "-c", script], stdout=subprocess.DEVNULL)
        try:
            yield
        finally:
            self.sh(f"touch {stop}")
            loop.wait(timeout=10 + 2 * period)
            self.remove(stop)

    def state(self) -> dict[str, object]:
        """What a run may change, seen from the console: compare before and after."""
        return {
            "daemon.json": self.read("/etc/docker/daemon.json"),
            "etc/docker": self.sh("ls -a /etc/docker"),
            "var/lib": self.sh("ls -a /var/lib"),
            "dockerd": self.sh("cat /var/run/docker.pid"),
            "containers": self.sh("docker ps -a --format '{{.Names}}'"),
            "images": self.sh("docker images -q"),
            "live-restore": self.sh("docker info --format '{{.LiveRestoreEnabled}}'"),
        }


class SysvNode(StagingNode):
    """Debian's docker.io of this machine under its sysvinit script, tini as the init."""

    INDEX = 200
    HOSTNAME = "lrmssh-node"
    MANAGER = "sysvinit"
    DOCKER_LOG = "tail -5 /var/log/docker.log"
    ENSURE_DOCKER = "service docker status >/dev/null || service docker start </dev/null"
    # start-stop-daemon's pidfile goes only when the script stops dockerd (a crash leaves it)
    DOCKER_STATE = "test -e /var/run/docker-ssd.pid && echo running || echo stopped"
    DOCKER_STOPPED = ("stopped",)
    RESPAWN = "service docker status >/dev/null || service docker start </dev/null >/dev/null 2>&1"

    def _write_files(self) -> None:
        host_key = self._write_keys()
        with self.known_hosts.open("a") as fh:
            fh.write(f"[{self.host}]:{NO_DOCKER_PORT} {' '.join(host_key)}\n")
        (self.tmp / "sshd_config").write_text(SSHD_CONFIG.format(tmp=self.tmp, no_docker_port=NO_DOCKER_PORT))
        (self.tmp / "fstab").write_text(FSTAB)
        if run(["sh", "-c", "ulimit -n 1048576"], timeout=15).returncode != 0:
            (self.tmp / "default-docker").write_text(ULIMIT_SHIM)

    def _launch(self) -> subprocess.Popen[bytes]:
        assert INIT is not None
        return self._popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "--uts",
                "/bin/sh",
                "-c",
                NODE_INIT,
                "lrmssh-init",
                str(self.tmp),
                INIT,
                self.host,
                str(NO_DOCKER_PORT),
            ]
        )

    def _start_docker(self) -> None:
        self.sh("service docker start </dev/null", timeout=60)

    def _shut_down(self) -> None:
        self.console(CLEAN_SHUTDOWN, timeout=90)


@dataclass(frozen=True)
class Sample:
    at: float  # wall time on the node (the same clock as this machine's)
    state: str  # the init system's word for dockerd (docker.service's ActiveState)
    pids: tuple[int, ...]  # dockerd processes
