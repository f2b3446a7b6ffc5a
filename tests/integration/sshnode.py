"""A throwaway staging node for the ssh driver, built on this machine for one test module.

sshd and Debian's docker.io run in their own namespaces: network ``lrmssh200`` (host
198.18.200.1, node 198.18.200.2), mount (tmpfs over /run, /var/lib, /var/log and /etc/docker,
so nothing touches a Docker this machine may run) and PID (tini is the node's init: it reaps
what the init script daemonizes, and its exit kills everything left in the node). The node's
dockerd is started and stopped only through /etc/init.d/docker, as on a Debian host without
systemd. Keys, host key and known_hosts are generated per node; auth is key-only.
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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import engine_ready
from lrmatrix.drivers import engine_net
from lrmatrix.process import run

INDEX = 200
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

# systemd cannot run on this machine: on request a recording systemctl stands in for it, to check
# how the driver detects and drives a systemd node (the unit's own behaviour is not simulated)
FAKE_SYSTEMCTL = """\
#!/bin/sh
case "$1" in start|stop|reload|kill) echo "$*" >> /run/lrmssh-systemctl.calls ;; esac
export SYSTEMCTL_SKIP_REDIRECT=1
case "$*" in
    "stop docker.socket docker.service"|"stop docker.service") exec /etc/init.d/docker stop ;;
    "start docker.service") exec /etc/init.d/docker start ;;
    *LoadState*) echo loaded ;;
esac
"""


def why_not_ready() -> str | None:
    """Why a staging node cannot be built here, or None."""
    reason = engine_ready()
    if reason:
        return reason
    for path in ("/usr/sbin/sshd", "/etc/init.d/docker"):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install openssh-server docker.io)"
    for cmd in ("ssh-keygen", "unshare"):
        if shutil.which(cmd) is None:
            return f"{cmd} is not installed"
    if INIT is None:
        return "tini (docker.io's docker-init) is not installed"
    return None


@dataclass(frozen=True)
class SshSlot(engine_net.Slot):
    """Slot 200's addresses under a name that `lrmatrix recover` does not take for an engine node."""

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


class StagingNode:
    def __init__(self) -> None:
        self.slot = SshSlot(INDEX)
        self.tmp = Path(tempfile.mkdtemp(prefix="lrmssh-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.init_pid: int | None = None
        self.own_network = False
        self.lock: engine_net.SlotLock | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[StagingNode]:
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
        self._launch()
        self.sh("service docker start </dev/null", timeout=60)
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

    def _write_files(self) -> None:
        host_key = keygen(self.tmp / "ssh_host_ed25519_key", "lrmssh-node").split()
        (self.tmp / "authorized_keys").write_text(keygen(self.key, "lrmssh-client") + "\n")
        keygen(self.other_key, "lrmssh-stranger")
        entry = " ".join(host_key[:2])
        self.known_hosts.write_text(f"{self.host} {entry}\n[{self.host}]:{NO_DOCKER_PORT} {entry}\n")
        (self.tmp / "sshd_config").write_text(SSHD_CONFIG.format(tmp=self.tmp, no_docker_port=NO_DOCKER_PORT))
        (self.tmp / "fstab").write_text(FSTAB)
        if run(["sh", "-c", "ulimit -n 1048576"], timeout=15).returncode != 0:
            (self.tmp / "default-docker").write_text(ULIMIT_SHIM)

    def _launch(self) -> None:
        """Be the parent of the node (nsenter execs unshare) and wait for sshd's banner."""
        assert INIT is not None
        with (self.tmp / "node.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    "nsenter",
                    f"--net={self.slot.netns_path}",
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
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 15
        while not self._banner():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the staging node's sshd did not start: {self.log()[-500:]}")
            time.sleep(0.1)
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        self.init_pid = int(children[0])

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
                    # containers' cgroups, which live in this machine's /sys/fs/cgroup
                    self.console(CLEAN_SHUTDOWN, timeout=90)
            self._end_node()
        finally:
            if self.own_network:
                engine_net.release(self.slot)
            if self.lock is not None:
                self.lock.release()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _end_node(self) -> None:
        """tini passes SIGTERM to sshd and exits with it; the kernel then kills the rest of the node."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.init_pid:
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
        return ["nsenter", "--target", str(self.init_pid), "--mount", "--net", "--pid", "--uts"]

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

    @contextlib.contextmanager
    def pretend_systemd(self) -> Iterator[str]:
        """/run/systemd/system exists and systemctl records its calls; yields the calls file."""
        self.sh("mkdir /run/systemd /run/systemd/system && mount -t tmpfs lrmssh /usr/local/sbin")
        try:
            self.write("/usr/local/sbin/systemctl", FAKE_SYSTEMCTL.encode())
            self.sh("chmod 755 /usr/local/sbin/systemctl")
            yield "/run/lrmssh-systemctl.calls"
        finally:
            self.console("umount /usr/local/sbin; rm -rf /run/systemd /run/lrmssh-systemctl.calls")

    def wait_docker(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.console("docker version >/dev/null 2>&1").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the staging node's dockerd did not answer: {self.sh('tail -5 /var/log/docker.log')}"
                )
            time.sleep(0.2)

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
