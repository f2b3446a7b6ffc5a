"""A staging node that boots systemd: Docker managed by the real docker.service and docker.socket.

systemd-nspawn does not work on these machines (no host bus, /run propagation), plain
namespaces do: Debian's systemd 252 boots as PID 1 of new PID, mount, UTS and cgroup
namespaces, inside the node's network namespace, with a Debian tree built by debootstrap from
the machine's own apt mirror as its root (pivot_root: see BOOT on why chroot is not enough).

- The tree (systemd, dbus, docker.io, openssh-server, ...) is built once and cached under
  ``/var/cache/lrmatrix/staging/<key>/tree``, the key naming suite, mirror and packages; every
  boot runs on an overlay of it, so the cached tree never changes.
- ``container=lrmatrix`` tells systemd it runs in a container (no udev, no kernel module or
  sysctl setup); /proc/sys is read-only except its net/ part, which is the node's own; units
  that would touch this machine (sysctl, binfmt, module loading, fstrim) are masked, and so
  are the gettys (no console to serve).
- cgroups: the node gets a child of this process's cgroup in every hierarchy and a cgroup
  namespace rooted there, so systemd and the node's containers make their groups only below
  it; after the node is gone the whole subtree is removed.
- sshd is Debian's ssh.service with a generated host key, root login by key only, and no SFTP
  subsystem (as on hardened nodes: the ssh driver must not need it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import filelock
from sshnode import StagingNode

from conftest import engine_ready
from lrmatrix.deadline import poll
from lrmatrix.errors import EnvironmentProblem
from lrmatrix.matrix import engines
from lrmatrix.process import run

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "docker.io",
    "openssh-server",
    "iptables",
    "iproute2",
    "procps",
)
#: the commands that build and boot the node, and the Debian package each comes from
TOOLS = {
    "debootstrap": "debootstrap",
    "unshare": "util-linux",
    "ssh-keygen": "openssh-client",
    "pivot_root": "util-linux",
}
RECIPE_VERSION = "1"  # bump when the tree's recipe below changes
BUILD_TIMEOUT_S = 900
#: units that would change this machine (global sysctls, binfmt, kernel modules, its disk) or wait
#: for a console that does not exist
MASKED = (
    "systemd-sysctl.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-modules-load.service",
    "fstrim.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
)
SSHD_CONFIG = """\
# lrmatrix staging node: key-only root login, and no SFTP subsystem (the ssh driver needs none)
ListenAddress {host}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# no PAM: no logind session (and user manager) for each of the driver's commands
UsePAM no
AllowTcpForwarding no
X11Forwarding no
UseDNS no
PrintMotd no
"""

# $1 the cached tree, $2 this node's folder; then the cgroup mounts, as "TYPE OPTIONS SUBDIR" words
BOOT = r"""
set -e
tree=$1 d=$2; shift 2
r=$d/root
mkdir -p "$r" "$d/work" "$d/docker"
mount -t overlay lrmsd -o "lowerdir=$tree,upperdir=$d/upper,workdir=$d/work" "$r"
mount -t proc proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount --bind "$r/proc/sys/net" "$r/proc/sys/net"
mount -o remount,bind,ro "$r/proc/sys"
mount -t sysfs -o ro sysfs "$r/sys"
mount -t tmpfs -o mode=0755 lrmsd "$r/sys/fs/cgroup"
while [ $# -gt 0 ]; do
    mkdir -p "$r/sys/fs/cgroup/$3"
    mount -t "$1" -o "$2" lrmsd "$r/sys/fs/cgroup/$3"
    shift 3
done
mount -t tmpfs -o mode=0755,nosuid lrmsd "$r/dev"
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    name=${n%%:*} mm=${n#*:}
    mknod -m 666 "$r/dev/$name" c "${mm%:*}" "${mm#*:}"
done
mkdir "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev lrmsd "$r/dev/shm"
ln -s /proc/self/fd "$r/dev/fd"
mkdir -p "$r/var/lib/docker" "$r/.lrmsd-host"
mount --bind "$d/docker" "$r/var/lib/docker"
# pivot_root, not chroot: the tree must be the mount namespace's root. Under a chroot a
# container's pivot_root leaves the namespace root at this machine's /, and `docker exec` (which
# joins the container's mount namespace, so starts at its root) then runs in this machine's tree.
cd "$r"
pivot_root . .lrmsd-host
umount -l /.lrmsd-host
rmdir /.lrmsd-host
export container=lrmatrix
exec /lib/systemd/systemd
"""

SHUTDOWN = """\
systemctl start docker.socket docker.service </dev/null
for i in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker ps -aq | xargs -r docker rm -f
"""


def cache_root() -> Path:
    return Path(os.environ.get("LRMATRIX_CACHE_DIR", "/var/cache/lrmatrix")) / "staging"


@functools.cache  # apt-get takes half a second, and collection asks twice
def mirror() -> tuple[str, str] | None:
    """(Debian archive URI, suite) of this machine's own apt configuration."""
    try:
        uri, _keyring = engines.machine_mirror()
    except EnvironmentProblem:
        return None
    return uri, engines._os_release()["VERSION_CODENAME"]


def why_not_ready() -> str | None:
    """Why a systemd staging node cannot be built here, or None."""
    reason = engine_ready()
    if reason:
        return reason
    for cmd, package in TOOLS.items():
        if shutil.which(cmd) is None:
            return f"{cmd} is not installed (apt-get install {package})"
    if not hierarchies():
        return "no cgroup hierarchy is mounted under /sys/fs/cgroup"
    if mirror() is None:
        return "no Debian mirror for this release in the machine's apt sources"
    return None


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy of this machine, and where this process sits in it."""

    fstype: str  # cgroup (v1) or cgroup2
    options: str  # what mounting the same hierarchy again takes: "cpu", "none,name=systemd", ""
    mountpoint: Path
    subdir: str  # below /sys/fs/cgroup, "" for a cgroup2-only machine
    own: str  # this process's cgroup in it

    def node_dir(self, name: str) -> Path:
        return self.mountpoint / self.own.lstrip("/") / name


def hierarchies() -> list[Hierarchy]:
    """From /proc/self/mountinfo and /proc/self/cgroup: v1 controllers, named and cgroup2."""
    controllers = {ln.split()[0] for ln in Path("/proc/cgroups").read_text().splitlines()[1:] if ln}
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, names, path = line.split(":", 2)
        own["" if hid == "0" else names] = path
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, super_opts = right.split()[:3]
        mountpoint = Path(left.split()[4])
        if fstype not in ("cgroup", "cgroup2") or not mountpoint.is_relative_to("/sys/fs/cgroup"):
            continue
        subdir = str(mountpoint.relative_to("/sys/fs/cgroup")).removeprefix(".")
        if fstype == "cgroup2":
            found.append(Hierarchy(fstype, "", mountpoint, subdir, own.get("", "/")))
            continue
        opts = [o for o in super_opts.split(",") if o in controllers or o.startswith("name=")]
        key = ",".join(opts)
        if key not in own:
            continue
        mount_opts = key if any(o in controllers for o in opts) else f"none,{key}"
        found.append(Hierarchy(fstype, mount_opts, mountpoint, subdir, own[key]))
    return found


def tree_key(uri: str, suite: str) -> str:
    return hashlib.sha256(f"{RECIPE_VERSION}:{uri}:{suite}:{','.join(PACKAGES)}".encode()).hexdigest()[:12]


def cached_tree() -> Path:
    """The Debian tree, built once per recipe (under a lock: parallel sessions share it)."""
    found = mirror()
    if found is None:
        raise RuntimeError("no Debian mirror for this release in the machine's apt sources")
    uri, suite = found
    folder = cache_root() / tree_key(uri, suite)
    folder.mkdir(parents=True, exist_ok=True)
    tree = folder / "tree"
    with filelock.FileLock(folder / ".lock", thread_local=False):
        if not (tree / "lib/systemd/systemd").exists():
            partial = folder / "tree.partial"
            shutil.rmtree(partial, ignore_errors=True)
            argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite]
            res = run([*argv, str(partial), uri], timeout=BUILD_TIMEOUT_S)
            if res.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                raise RuntimeError(f"debootstrap failed: {(res.stdout + res.stderr).strip()[-600:]}")
            partial.rename(tree)
    return tree


class SystemdNode(StagingNode):
    """Debian booted with systemd; dockerd is docker.service, activated by docker.socket too."""

    INDEX = 201
    HOSTNAME = "lrmsd-node"
    MANAGER = "systemd"
    ENSURE_DOCKER = (
        "systemctl unmask --runtime docker.service; systemctl reset-failed docker.socket docker.service; "
        "systemctl start docker.socket docker.service </dev/null"
    )
    DOCKER_STATE = "systemctl is-active docker.socket docker.service || true"
    DOCKER_STOPPED = ("inactive", "inactive")
    UNIT_STATE = "systemctl is-active docker.service"
    RESPAWN = "systemctl is-active -q docker.service || systemctl start docker.service </dev/null"
    DOCKER_LOG = "journalctl -u docker.service -n 5 --no-pager"
    ENTER = ("--mount", "--net", "--pid", "--uts", "--cgroup", "--root", "--wd")

    def __init__(self) -> None:
        super().__init__()
        self.cgroups = hierarchies()
        self.cgroup_dirs = [h.node_dir(self.slot.name) for h in self.cgroups]

    def _write_files(self) -> None:
        self._write_keys()
        upper = self.tmp / "upper"
        etc = upper / "etc"
        (etc / "ssh").mkdir(parents=True)
        (etc / "systemd/system").mkdir(parents=True)
        (upper / "root/.ssh").mkdir(parents=True, mode=0o700)
        (etc / "hostname").write_text(f"{self.HOSTNAME}\n")
        (etc / "ssh/sshd_config").write_text(SSHD_CONFIG.format(host=self.host))
        for name in ("ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"):
            shutil.copy2(self.tmp / name, etc / "ssh" / name)
        shutil.copy2(self.tmp / "authorized_keys", upper / "root/.ssh/authorized_keys")
        for unit in MASKED:
            (etc / "systemd/system" / unit).symlink_to("/dev/null")

    def _launch(self) -> subprocess.Popen[bytes]:
        tree = cached_tree()
        self._make_cgroups()
        mounts = [w for h in self.cgroups for w in (h.fstype, h.options or "rw", h.subdir or ".")]
        procs = [str(d / "cgroup.procs") for d in self.cgroup_dirs]

        def join_cgroups() -> None:  # before unshare --cgroup: the namespace is rooted here
            for path in procs:
                Path(path).write_text(str(os.getpid()))

        argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--uts", "--cgroup"]
        argv += ["--kill-child", "/bin/sh", "-c", BOOT, "lrmsd-boot", str(tree), str(self.tmp), *mounts]
        return self._popen(argv, join_cgroups)

    def _make_cgroups(self) -> None:
        self._remove_cgroups()  # left by a node that was killed
        for h, d in zip(self.cgroups, self.cgroup_dirs, strict=True):
            d.mkdir()
            if "cpuset" in h.options.split(","):  # v1 cpuset starts empty: no task may join
                for name in ("cpuset.cpus", "cpuset.mems"):
                    (d / name).write_text((d.parent / name).read_text())

    def _remove_cgroups(self, timeout: float = 15) -> list[str]:
        """Depth-first rmdir of the node's subtree in every hierarchy; what could not go."""
        left: list[str] = []

        def removed() -> bool:  # retried: the last tasks of a dying namespace leave their groups late
            left.clear()
            for top in self.cgroup_dirs:
                if not top.exists():
                    continue
                for sub in [*sorted(top.rglob("*"), key=lambda p: -len(p.parts)), top]:
                    if sub.is_dir():
                        try:
                            sub.rmdir()
                        except OSError as exc:
                            left.append(f"{sub}: {exc.strerror}")
            return not left

        poll(removed, timeout, 0.2)
        return left

    def _shut_down(self) -> None:
        self.console(SHUTDOWN, timeout=90)
        self.console("systemctl poweroff --no-block", timeout=30)
        assert self.proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)

    def _end_node(self) -> None:
        """systemd as PID 1 takes SIGTERM as "re-execute"; SIGRTMIN+4 is poweroff."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGRTMIN + 4)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
                return
        self.proc.kill()
        self.proc.wait(timeout=10)

    def _after_end(self) -> None:
        left = self._remove_cgroups()
        if left:
            raise RuntimeError(f"cgroups of the staging node remain: {'; '.join(left[:3])}")

    def residue(self) -> list[str]:
        """What the node would leave on this machine (checked after ``stop``)."""
        left = [str(d) for d in self.cgroup_dirs if d.exists()]
        if Path(self.slot.netns_path).exists():
            left.append(self.slot.netns_path)
        mounts = Path("/proc/self/mountinfo").read_text()
        left += [ln.split()[4] for ln in mounts.splitlines() if str(self.tmp) in ln]
        return left

    # --- what the tests read on the node -------------------------------------------------
    def unit(self, name: str, *props: str) -> dict[str, str]:
        """``systemctl show`` properties (never a client of docker.sock: nothing is activated)."""
        out = self.sh(f"systemctl show {name} " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def dockerd_pids(self) -> list[int]:
        return [int(p) for p in self.console("pidof dockerd").stdout.split()]
