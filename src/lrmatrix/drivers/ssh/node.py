"""The ssh driver: an existing plain Docker host reached with paramiko (pre-upgrade validation).

Nothing is created: the node exists and carries other people's work, so the driver runs only
with ``--allow-disruption``, checks host keys against known_hosts and never accepts an unknown
one. Before the first change it copies daemon.json on the node itself
(``<daemon.json>.lrmatrix-backup``, or an ``.lrmatrix-absent`` marker when there was none) and
writes what the run will change to ``<work dir>/changes.json``; ``destroy()`` undoes what those
files say, so a human, or a later run after a crash, can put the node back.

The daemon is stopped and started the way the node's init system does it: systemd
(``docker.socket`` too, or any client socket-activates dockerd again) or Debian's sysvinit
script ``service docker stop|start``. On systemd the crash variant masks docker.service for its
window (``--runtime``), since Restart=on-failure would otherwise start dockerd again within a
second. Files are read and written over exec channels: the node's sshd needs no SFTP.

Settings (node-spec option, else environment): ``known_hosts`` / LRMATRIX_SSH_KNOWN_HOSTS
(default ~/.ssh/known_hosts), ``identity`` / LRMATRIX_SSH_KEY (default: agent and ~/.ssh keys),
``daemon_json`` / LRMATRIX_SSH_DAEMON_JSON (default /etc/docker/daemon.json).
"""

from __future__ import annotations

import getpass
import ipaddress
import json
import os
import platform
import shlex
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from socket import IPPROTO_TCP, TCP_NODELAY  # not through `socket.`: a test plugin replaces that
from typing import TYPE_CHECKING, Any

from lrmatrix.command import CmdResult
from lrmatrix.deadline import poll
from lrmatrix.drivers.base import Node, UnitMessage
from lrmatrix.drivers.ssh.service_manager import (
    DETECT,
    DOCKER_UNITS,
    GONE_WORDS,
    SYSTEMD,
    SYSVINIT,
    ServiceManager,
)
from lrmatrix.drivers.transport import read_files
from lrmatrix.errors import BadInput, EnvironmentProblem, LrmatrixError, NodeError
from lrmatrix.evidence.other_containers import OtherContainers, bring_back, observe
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.modules.procfs import parse_stat
from lrmatrix.workload.containers import LABEL, NAME_PREFIX

try:
    import paramiko
except ImportError as exc:  # make_node turns this into one line and exit 2
    raise EnvironmentProblem("the ssh driver needs paramiko: pip install 'lrmatrix[ssh]'") from exc

from lrmatrix.drivers.ssh.transport import CONNECT_TIMEOUT_S, SshTransport

if TYPE_CHECKING:
    from lrmatrix.drivers import NodeSpec
    from lrmatrix.matrix.cells import Cell

UPLOAD_TIMEOUT_S = 300.0
#: how long a stopped dockerd's API socket may take to stop listening
SOCKET_GONE_S = 1.0
ABSENT_RC = 3  # read_file's "no such file", apart from cat's own failures (1)
WORK_ROOT = "/var/lib/lrmatrix"
BACKUP_SUFFIX = ".lrmatrix-backup"
ABSENT_SUFFIX = ".lrmatrix-absent"
ABSENT_NOTE = b"There was no daemon.json before lrmatrix ran: delete daemon.json and this file to restore.\n"


def _setting(spec: NodeSpec, key: str, env: str, default: str) -> str:
    return spec.options.get(key) or os.environ.get(env) or default


class _RejectUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, with a message that says which key and what to do about it."""

    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise EnvironmentProblem(
            f"the host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in "
            f"{self.known_hosts}; lrmatrix never accepts unknown host keys: check the fingerprint "
            f"on the node, then add it (ssh-keyscan) or set LRMATRIX_SSH_KNOWN_HOSTS"
        )


class SshNode(Node):
    scheme = "ssh"
    # daemon_up (Node's): `grep` of /proc/*/comm and /proc/net/unix over the open connection,
    # tens of ms; never a connect() to docker.sock, which socket-activates dockerd on systemd
    watches_daemon = True

    def __init__(self, cell: Cell, spec: NodeSpec | None = None) -> None:
        super().__init__(cell)
        if spec is None or not spec.host:
            raise BadInput("the ssh driver needs a node spec with a host: --node ssh://user@host[:port]")
        self.spec = spec
        self.host = spec.host
        self.user = spec.user or getpass.getuser()
        self.port = 22 if spec.port is None else spec.port
        self.known_hosts = _setting(
            spec, "known_hosts", "LRMATRIX_SSH_KNOWN_HOSTS", str(Path("~/.ssh/known_hosts").expanduser())
        )
        self.key_file = _setting(spec, "identity", "LRMATRIX_SSH_KEY", "") or None
        self._daemon_json = _setting(
            spec, "daemon_json", "LRMATRIX_SSH_DAEMON_JSON", "/etc/docker/daemon.json"
        )
        self.pidfile = "/var/run/docker.pid"
        self.manager: ServiceManager | None = None
        self.original: bytes | None = None
        self.original_read = False
        self.created = False
        self.imported: list[str] = []
        self._created_root = False
        self.held = False
        self.caveat: str | None = None
        self._journal_cursor = ""
        self._stopped = False  # by lrmatrix, and not started again since
        self.problems: list[str] = []
        #: the node's own containers, recorded before anything changes (``other_containers``)
        self.others: OtherContainers | None = None
        self._teardown_restarted = False
        self._client: paramiko.SSHClient | None = None
        self._connecting = threading.Lock()  # the watches' threads ask for the connection too
        self._transport: SshTransport | None = None

    # --- where things are ----------------------------------------------------------------
    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def name(self) -> str:
        return f"{self.label} ({self.manager.name})" if self.manager else self.label

    @property
    def address(self) -> str:
        return self.host

    @property
    def daemon_json_path(self) -> str:
        return self._daemon_json

    @property
    def backup_path(self) -> str:
        return self._daemon_json + BACKUP_SUFFIX

    @property
    def absent_marker(self) -> str:
        return self._daemon_json + ABSENT_SUFFIX

    @property
    def socket_path(self) -> str:
        return "/var/run/docker.sock"

    @property
    def work_dir(self) -> str:
        return f"{WORK_ROOT}/{self.cell.name}"

    @property
    def record_path(self) -> str:
        return f"{self.work_dir}/changes.json"

    # --- connection ----------------------------------------------------------------------
    @property
    def client(self) -> paramiko.SSHClient:
        """The one SSH connection (reopened if it dropped); testinfra shares it."""
        with self._connecting:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                self.close()
                self._client = self._connect()
            return self._client

    def _connect(self) -> paramiko.SSHClient:
        if not Path(self.known_hosts).is_file():
            raise EnvironmentProblem(
                f"no known_hosts file at {self.known_hosts}: lrmatrix checks {self.host}'s host key "
                f"against it; create it (ssh-keyscan, after checking the fingerprint) or set "
                f"LRMATRIX_SSH_KNOWN_HOSTS"
            )
        if self.key_file and not Path(self.key_file).is_file():
            raise EnvironmentProblem(f"the SSH key {self.key_file} (LRMATRIX_SSH_KEY) does not exist")
        client = paramiko.SSHClient()
        client.load_system_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(_RejectUnknownHost(self.known_hosts))
        try:
            client.connect(
                self.host,
                self.port,
                self.user,
                key_filename=self.key_file,
                timeout=CONNECT_TIMEOUT_S,
                banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
            )
        except LrmatrixError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise EnvironmentProblem(
                f"the host key of {self.label} ({exc.key.fingerprint}) does not match {self.known_hosts}: "
                f"the node was reinstalled or someone is in between; check before replacing the entry"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            how = self.key_file or "the SSH agent and ~/.ssh keys"
            raise EnvironmentProblem(
                f"SSH authentication as {self.user} on {self.label} failed with {how} ({exc}); "
                f"authorize the key on the node or set LRMATRIX_SSH_KEY"
            ) from None
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            errors = getattr(exc, "errors", {})  # NoValidConnectionsError: one per address tried
            reason = "; ".join(str(e.strerror or e) for e in errors.values()) or str(exc)
            raise EnvironmentProblem(f"cannot reach {self.label} over SSH: {reason}") from None
        connection = client.get_transport()
        setsockopt = getattr(connection.sock, "setsockopt", None) if connection else None
        if setsockopt is not None:  # a TCP socket (not a ProxyCommand)
            # small packets (a command, a window adjust) are not held back until the last is acked
            setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        if self._transport is not None:
            self._transport.forget()

    # --- access --------------------------------------------------------------------------
    @property
    def transport(self) -> SshTransport:
        """One transport (on the one connection) for the harness and the checks."""
        if self._transport is None:
            self._transport = SshTransport(self)
        return self._transport

    def _exec(
        self, command: str, timeout: float, argv: tuple[str, ...] = (), stdin: bytes | Path = b""
    ) -> CmdResult:
        return self.transport.shell(command, timeout, argv, stdin)

    def read_files(self, paths: list[str]) -> dict[str, bytes | None]:
        """All in one command: one round trip, not one per file."""
        return read_files(self.run, paths)

    def _must(self, argv: list[str] | tuple[str, ...], timeout: float = 60.0) -> CmdResult:
        res = self.run(list(argv), timeout=timeout)
        if not res.ok:
            raise NodeError(f"`{shlex.join(argv)}` failed on {self.label}: {res.one_line()}")
        return res

    def read_file(self, path: str) -> bytes | None:
        quoted = shlex.quote(path)
        rc, out, err = self.transport.exec_raw(
            f"test -e {quoted} || exit {ABSENT_RC}; exec cat -- {quoted}", 60
        )
        if rc == 0:
            return out
        if rc == ABSENT_RC or path.startswith("/proc/"):  # a process may go between test and cat
            return None
        raise NodeError(f"cannot read {path} on {self.label}: {err.decode(errors='replace').strip()}")

    def write_file(self, path: str, data: bytes) -> None:
        """``cat >`` truncates the existing file: same inode, as bind mounts need."""
        res = self._exec(f"cat > {shlex.quote(path)}", 60, ("write", path), stdin=data)
        if not res.ok:
            raise NodeError(f"cannot write {path} on {self.label}: {res.one_line()}")

    def upload(self, local: Path, remote: str) -> None:
        """A local file to the node, streamed over an exec channel (no SFTP)."""
        sent = self._exec(f"cat > {shlex.quote(remote)}", UPLOAD_TIMEOUT_S, ("upload", remote), local)
        if not sent.ok:
            raise NodeError(f"cannot upload {local.name} to {self.label}: {sent.one_line()}")

    def exists(self, path: str) -> bool:
        return self._exec(f"test -e {shlex.quote(path)}", CONNECT_TIMEOUT_S).ok

    def import_image(self, tarball: str, tag: str, cmd: str) -> None:
        """The tarball is on the harness's machine: upload it, import it, and remember to remove it."""
        if self.dockerd.cli("image", "inspect", tag).ok:
            return
        remote = f"{self.work_dir}/{PurePosixPath(tarball).name}"
        self._must(["mkdir", "-p", self.work_dir])
        try:
            self.upload(Path(tarball), remote)
            super().import_image(remote, tag, cmd)
        finally:
            self.run(["rm", "-f", remote])
        self.imported.append(tag)
        self._record()

    # --- checks before anything changes --------------------------------------------------
    def sanity_checks(self) -> None:
        if self.cell.engine_after is not None and not self.cell.upgrade_command:
            raise BadInput(
                f"{self.cell.name} swaps dockerd binaries on a node the harness made; on an existing node "
                "the package manager upgrades Docker: a package-upgrade cell (upgrade_command) does that"
            )
        if self.spec.options.get("allow_disruption") != "true":
            raise BadInput(
                f"the ssh driver stops the Docker daemon of {self.label}, an existing machine; "
                f"pass --allow-disruption to allow it"
            )
        if self.cell.kubernetes:
            raise BadInput(
                f"{self.cell.name}: the ssh driver runs engine cells on a plain Docker host; "
                f"Kubernetes cells over SSH are not supported yet"
            )
        unreachable = sorted(set(self.cell.expect_paths) - {"node"})
        if unreachable:
            raise BadInput(
                f"{self.cell.name} states an expectation for the {', '.join(unreachable)} path, which the "
                f"ssh driver cannot probe (127.0.0.1 inside the node); run it with the engine driver"
            )
        self.caveat = self._loopback_caveat()
        found = self._exec("command -v docker && command -v dockerd", CONNECT_TIMEOUT_S)
        if not found.ok:
            raise EnvironmentProblem(
                f"{self.label} has no Docker engine (docker/dockerd not on root's PATH); install docker.io"
            )
        if self.run(["id", "-u"]).stdout.strip() != "0":
            raise EnvironmentProblem(
                f"the ssh driver needs root on {self.label} (it edits {self.daemon_json_path} and "
                f"restarts dockerd); use ssh://root@{self.host}"
            )
        manager = self._manager()
        if not self.dockerd.api_ready():
            raise EnvironmentProblem(
                f"dockerd is not running on {self.label}; start it (`{manager.start}`) "
                f"so the run starts from the node's normal state"
            )
        for leftover in (self.backup_path, self.absent_marker):
            if self.exists(leftover):
                raise EnvironmentProblem(
                    f"{leftover} on {self.label} is left from an lrmatrix run that did not finish "
                    f"(see {WORK_ROOT}/*/changes.json); restore daemon.json from it and remove it first"
                )
        daemon_config.parse(self.read_file(self.daemon_json_path), f"{self.label}:{self.daemon_json_path}")
        pid = self.daemon_pid()
        info = self.processes.proc(pid) if pid else None
        if info is not None:
            daemon_config.check_flags(info.cmdline.split())
        clash = self.dockerd.cli_ok("ps", "-aq", "--filter", f"name=^{NAME_PREFIX}").split()
        if clash:
            raise EnvironmentProblem(
                f"{self.label} already has containers named {NAME_PREFIX}* ({len(clash)}); remove them first"
            )
        # last: the node's own containers as they are before anything changes
        self.others = OtherContainers(observe(self.dockerd, self._own_label), self.cell.live_restore)

    @property
    def _own_label(self) -> dict[str, str]:
        return {LABEL: self.cell.name}

    def other_containers(self) -> OtherContainers | None:
        return self.others

    def _loopback_caveat(self) -> str | None:
        """A node reached at a loopback address is this machine: the probe's ``node`` path then
        reaches the published ports through 127.0.0.1, i.e. through docker-proxy, which exits
        with dockerd, so its failures while down say nothing about live-restore."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, proto=socket.IPPROTO_TCP)
            found = {str(info[4][0]) for info in infos}
        except OSError:
            return None  # connecting says what is wrong with the name
        if not found or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in found):
            return None
        return (
            f"the node address {self.host} is loopback: the node path goes through docker-proxy, which "
            f"exits with dockerd, so failures while down say nothing about live-restore; use the node's "
            f"routable address"
        )

    def node_path_caveat(self) -> str | None:
        return self.caveat

    def _detect_manager(self) -> ServiceManager:
        found = self._exec(DETECT, CONNECT_TIMEOUT_S).stdout.strip()
        if found == "systemd":
            return SYSTEMD
        if found == "sysvinit":
            return SYSVINIT
        raise EnvironmentProblem(
            f"cannot tell how dockerd is managed on {self.label}: no systemd and no /etc/init.d/docker"
        )

    # --- lifecycle -----------------------------------------------------------------------
    def create(self) -> None:
        """Create nothing: back up daemon.json on the node, then record what the run will change."""
        self._manager()
        self.original = self.read_file(self.daemon_json_path)
        self.original_read = True
        if self.original is None:
            self.write_file(self.absent_marker, ABSENT_NOTE)
        else:
            self._must(["cp", "-p", self.daemon_json_path, self.backup_path])
            if self.read_file(self.backup_path) != self.original:
                raise NodeError(f"the backup {self.backup_path} on {self.label} differs from daemon.json")
        self.created = True
        self._created_root = not self.exists(WORK_ROOT)
        self._must(["mkdir", "-p", self.work_dir])
        self._record()

    def changes(self) -> dict[str, Any]:
        """What this run changes on the node and how to undo it by hand."""
        manager = self._manager()
        path, start = self.daemon_json_path, manager.start
        running = [c.name for c in self.others.before if c.running] if self.others is not None else []
        restore = [f"cp -p {self.backup_path} {path}"] if self.original is not None else [f"rm -f {path}"]
        return {
            "schema": "lrmatrix.ssh-changes/1",
            "cell": self.cell.name,
            "by": f"lrmatrix pid {os.getpid()} on {platform.node()}",
            "harness": {
                "host": platform.node(),
                "pid": os.getpid(),
                "start_ticks": _start_ticks(os.getpid()),
            },
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "service_manager": manager.name,
            "daemon_json": path,
            "backup": self.backup_path if self.original is not None else None,
            "absent_marker": self.absent_marker if self.original is None else None,
            "created_work_root": self._created_root,
            "imported_images": self.imported,
            "held_down": self.held,
            # the node's own containers before the run: the teardown (or recover) starts again
            # those that were running and are not
            "other_containers": self.others.to_record() if self.others is not None else None,
            "will_change": [
                f"{path}: only live-restore is set (to {str(self.cell.live_restore).lower()})",
                f"dockerd is stopped and started with `{manager.stop}` / `{start}`",
                *(
                    [
                        f"the crash variant runs `{manager.hold}` before the kill and `{manager.release}` "
                        "before the start: the init system must not restart dockerd within the window"
                    ]
                    if manager.hold and self.cell.stop_signal != "SIGTERM"
                    else []
                ),
                *(
                    [
                        f"the upgrade commands run on the node, one after another, and are NOT undone: "
                        f"{'; '.join(self.cell.upgrade_command)}",
                        f"{self.work_dir}/debs holds the staged .debs, {self.work_dir}/upgrade their output",
                    ]
                    if self.cell.upgrade_command
                    else []
                ),
                f"containers {NAME_PREFIX}* labelled {LABEL}={self.cell.name} are created and removed",
                "the workload image is imported if missing and removed afterwards",
                f"{self.work_dir} holds the workload's files and this record",
                *(
                    [
                        "the node's own containers that are running now are started again (docker start) "
                        f"if they are not running after the run: {', '.join(running)}"
                    ]
                    if running
                    else []
                ),
            ],
            "undo": [
                *([manager.release] if self.held else []),
                *restore,
                f"rm -f {self.backup_path} {self.absent_marker}",
                f"docker rm -f $(docker ps -aq --filter label={LABEL}={self.cell.name})",
                f"{start}; if live-restore differs from what daemon.json says (absent: off), reload "
                "dockerd with the key named in daemon.json, then give the file back (a restart would stop "
                "the containers)",
                *([f"docker start {' '.join(running)}"] if running else []),
                f"rm -rf {self.work_dir}",
            ],
        }

    def _record(self) -> None:
        self.write_file(self.record_path, (json.dumps(self.changes(), indent=2) + "\n").encode())

    def destroy(self) -> None:
        """Undo what the on-node backup and record say, also after a crash; safe to call twice."""
        try:
            record = self._read_record()
            if not (
                self.created or record or self.exists(self.backup_path) or self.exists(self.absent_marker)
            ):
                self._bring_back_others(record)  # only a look: nothing was changed
                return
            # the file first: a daemon that cannot start with the cell's config starts with it
            steps = (
                lambda: self._release(record),
                self._restore_daemon_json,
                self._ensure_running,
                self._remove_workload,
                lambda: self._remove_images(record),
                self._reconcile_live_restore,
                self._drop_backup,
                # after the last restart of dockerd, before the record goes with the work dir
                lambda: self._bring_back_others(record),
                lambda: self._remove_work_dir(record),
            )
            for step in steps:
                try:
                    step()
                except LrmatrixError as exc:
                    self.problems.append(str(exc))
            self.created = False
        except LrmatrixError as exc:
            self.problems.append(str(exc))
        finally:
            self.close()

    def live_harness(self) -> str | None:
        """Who still runs this cell's run, if it is a harness alive on this machine: recover
        must not undo a run in progress. (A harness on another machine cannot be checked from
        here; the record names it, and recover says whose run it undoes.)"""
        record = self._read_record()
        harness = record.get("harness") or {}
        if harness.get("host") != platform.node() or not isinstance(harness.get("pid"), int):
            return None
        alive = _start_ticks(harness["pid"])
        return record.get("by") if alive is not None and alive == harness.get("start_ticks") else None

    def recorded_by(self) -> str:
        return str(self._read_record().get("by") or "an unknown harness")

    def leftover_runs(self) -> list[str]:
        """Cells whose run on this node left a record (the harness died before its teardown)."""
        res = self._exec(f"ls -1 {shlex.quote(WORK_ROOT)}/*/changes.json 2>/dev/null", CONNECT_TIMEOUT_S)
        return sorted(Path(line).parent.name for line in res.stdout.split())

    def _read_record(self) -> dict[str, Any]:
        raw = self.read_file(self.record_path)
        try:
            return dict(json.loads(raw)) if raw else {}
        except ValueError:
            return {}

    def _ensure_running(self) -> None:
        if self.daemon_pid() is None:
            self.start_daemon()

    def _remove_workload(self) -> None:
        ids = self.dockerd.cli_ok("ps", "-aq", "--filter", f"label={LABEL}={self.cell.name}").split()
        if ids:
            self.dockerd.cli_ok("rm", "-f", *ids)

    def _remove_images(self, record: dict[str, Any]) -> None:
        for tag in dict.fromkeys([*self.imported, *record.get("imported_images", [])]):
            self.dockerd.cli("image", "rm", tag)
        self.imported = []

    def _restore_daemon_json(self) -> None:
        """daemon.json as it was, from the node's backup (or the marker: none). The backup stays
        until dockerd runs with the file's setting (``_drop_backup``): a run killed in between
        is still undone by ``recover``."""
        backup = self.read_file(self.backup_path)
        if backup is not None:
            self._give_back(backup)
            self.original, self.original_read = backup, True
        elif self.exists(self.absent_marker):
            self._give_back(None)
            self.original, self.original_read = None, True

    def _give_back(self, original: bytes | None) -> None:
        path = self.daemon_json_path
        if original is None:
            self._must(["rm", "-f", path])
            return
        if self.read_file(path) != original:
            self.write_file(path, original)
        if self.read_file(path) != original:
            raise NodeError(f"{path} on {self.label} still differs from {self.backup_path}")

    def _drop_backup(self) -> None:
        """The backup and the marker go once daemon.json is the original again."""
        if self.original_read and self.read_file(self.daemon_json_path) == self.original:
            self._must(["rm", "-f", self.backup_path, self.absent_marker])

    def _reconcile_live_restore(self) -> None:
        """The daemon must run with the restored file's setting: reload (SIGHUP), else restart.
        A restart stops every container without live-restore (the node's own too), so it is
        only the fallback."""
        if not self.original_read:
            return
        config = daemon_config.parse(self.original, self.daemon_json_path)
        want = bool(config.get(daemon_config.KEY, False))
        if self.dockerd.effective_live_restore() == want:
            return
        if self.daemon_pid() is not None and self._reload_to(want, daemon_config.KEY in config):
            return
        self._teardown_restarted = True
        self.stop_daemon("SIGTERM")
        self.start_daemon()
        if self.dockerd.effective_live_restore() != want:
            raise NodeError(f"dockerd on {self.label} does not run with live-restore={want} after restart")

    def _reload_to(self, want: bool, named: bool) -> bool:
        """Whether a reload gave dockerd live-restore=``want``. A reload applies only the keys
        daemon.json names (a file without the key leaves the setting as it is), so a file that
        does not name it names it for the reload and is given back right after: the daemon then
        runs as a start with the original file would have it."""
        if not named:
            self.write_file(self.daemon_json_path, daemon_config.merge_live_restore(self.original, want))
        try:
            self.reload_daemon()
            return bool(poll(lambda: self.dockerd.effective_live_restore() == want, 5, 0.1))
        finally:
            if not named:
                self._give_back(self.original)

    def _bring_back_others(self, record: dict[str, Any]) -> None:
        """The node's own containers that were running before the run and are not now are
        started again (also by ``recover``, from the record). The outcome stays on the record
        (``other_containers_as_before``), not in ``residue``: it is the node owner's work,
        not something lrmatrix left."""
        others = self.others or OtherContainers.from_record(record.get("other_containers"))
        if others is None or others.final is not None:
            return
        self.others = others
        others.teardown_restarted = self._teardown_restarted
        try:
            bring_back(self.dockerd, others, self._own_label)
        except LrmatrixError as exc:
            others.error = str(exc)

    def _remove_work_dir(self, record: dict[str, Any]) -> None:
        self._must(["rm", "-rf", self.work_dir])
        if record.get("created_work_root") or self._created_root:
            self.run(["rmdir", WORK_ROOT])  # only if empty: another cell may still use it

    def residue(self) -> list[str]:
        """What is still changed on the node (checked over a fresh connection, then closed)."""
        left = list(self.problems)
        try:
            if self.daemon_pid() is None:
                left.append(f"dockerd is not running on {self.label}")
            else:
                names = self.dockerd.cli_ok(
                    "ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"
                )
                left += [f"container {n}" for n in names.split()]
            left += [
                f"{p} on {self.label}"
                for p in (self.backup_path, self.absent_marker, self.work_dir)
                if self.exists(p)
            ]
            if self.manager is SYSTEMD:
                enabled = self._exec("systemctl is-enabled docker.service", CONNECT_TIMEOUT_S).stdout.strip()
                if enabled.startswith("masked"):
                    left.append(f"docker.service on {self.label} is {enabled} (`{SYSTEMD.release}`)")
            if self.original_read and self.read_file(self.daemon_json_path) != self.original:
                left.append(f"{self.daemon_json_path} on {self.label} differs from before the run")
        except LrmatrixError as exc:
            left.append(f"cannot check {self.label}: {exc}")
        finally:
            self.close()
        return left

    # --- the daemon ----------------------------------------------------------------------
    def _manager(self) -> ServiceManager:
        self.manager = self.manager or self._detect_manager()
        return self.manager

    def start_daemon(self) -> None:
        manager = self._manager()
        if self.held:
            self._release({})
        self._stopped = False
        res = self._exec(manager.start + " </dev/null", 60, (manager.start,))
        if not res.ok:
            raise NodeError(f"`{manager.start}` failed on {self.label}: {self._log_line()}")
        started = time.monotonic()
        try:
            # a daemon that dies at once (bad daemon.json) leaves no pidfile: stop early
            self.dockerd.wait_api(
                self.cell.timings.ready_timeout_s,
                alive=lambda: time.monotonic() - started < 3 or self.daemon_pid() is not None,
            )
        except NodeError as exc:
            raise NodeError(f"dockerd did not start on {self.label}: {self._log_line()}") from exc

    def reload_daemon(self) -> None:
        """``systemctl reload docker.service`` under systemd (its unit's ExecReload sends
        SIGHUP); the sysvinit script has no reload, so SIGHUP is sent to the pidfile's dockerd."""
        manager = self._manager()
        if not manager.reload:
            super().reload_daemon()
            return
        self._shell(manager.reload, 60)

    def stop_daemon(self, signal_name: str) -> None:
        pid = self.daemon_pid()
        if pid is None:
            return
        manager = self._manager()
        timeout = self.cell.timings.stop_timeout_s
        self._journal_cursor = self._journal_mark()
        self._stopped = True
        if signal_name == "SIGTERM":
            self._shell(manager.stop, timeout + 15)
        else:  # the crash variant: the signal itself, with the init system held off
            if manager.hold and not self.cell.respawn:
                self.held = True
                self._record()  # first: a run killed from here on is undone by `recover`
                self._shell(manager.hold, 30)
            self._shell(f"kill -s {shlex.quote(signal_name.removeprefix('SIG'))} {pid}", 15)
        if not poll(lambda: self.processes.proc(pid) is None, timeout, 0.05):
            raise NodeError(f"dockerd (pid {pid}) on {self.label} did not exit within {timeout:.0f}s")
        if self.cell.respawn:  # the service manager's answer is what the cell measures
            return
        if signal_name != "SIGTERM" and manager.after_kill:
            self._shell(manager.after_kill, 30)
        # a killed dockerd's socket can outlive its pid by a moment (the kernel releases a unix
        # socket lazily); one that stays is a socket unit (its first client starts dockerd) or dockerd
        if not poll(lambda: not self.dockerd.socket_listening(), SOCKET_GONE_S, 0.05):
            why = self.why_up_again() or f"something still listens on {self.socket_path}"
            how = manager.stop if signal_name == "SIGTERM" else f"{signal_name} to dockerd"
            raise NodeError(f"dockerd on {self.label} is not down after `{how}`: {why}")

    def _shell(self, command: str, timeout: float) -> None:
        res = self._exec(command + " </dev/null", timeout, (command,))
        if not res.ok:
            raise NodeError(f"`{command}` failed on {self.label}: {res.one_line()}")

    def _release(self, record: dict[str, Any]) -> None:
        """Undo the crash variant's hold (a runtime mask), also for a run that was killed."""
        manager = self._manager()
        if manager.release and (self.held or record.get("held_down")):
            self._shell(manager.release, 30)
            self.held = False
            self._record()

    def daemon_up(self) -> str | None:
        """Node's answer; once lrmatrix has stopped dockerd, a dockerd that is back comes with
        who brought it back, as far as the node can tell (``why_up_again``): the outage watch
        puts that in the verdict's error."""
        up = super().daemon_up()
        if up is None or not self._stopped:
            return up
        try:
            return self.why_up_again() or up
        except LrmatrixError:
            return up

    def _journal_mark(self) -> str:
        """Where the journal is now (systemd), to read what happened to the units after it."""
        if self._manager() is not SYSTEMD:
            return ""
        out = self._exec("journalctl -n 0 --show-cursor -q", CONNECT_TIMEOUT_S).stdout
        return out.rpartition("-- cursor: ")[2].strip()

    def why_up_again(self) -> str | None:
        """Why dockerd runs again after lrmatrix stopped it, in one sentence; None if it does not.

        On systemd the journal says when the unit stopped and started, and whether systemd
        scheduled a restart (Restart=on-failure). A start without one while docker.socket kept
        listening is socket activation or someone else's start command (the journal cannot tell
        those apart, so the sentence names both); once the socket was closed, only a start."""
        # a dockerd just started may not have written its pidfile yet
        pid = self.daemon_pid() or next(iter(self.processes.named("dockerd")), None)
        systemd = self._manager() is SYSTEMD and bool(self._journal_cursor)
        if pid is None and not systemd:
            return None
        if not systemd:
            return f"dockerd runs again on {self.label} (pid {pid}), and lrmatrix did not start it"
        entries = self._journal_since(self._journal_cursor)
        if pid is None:  # a socket that listens again is a daemon its first client starts
            reopened = any(m.startswith("Listening on docker.socket") for _, m in entries)
            return (
                f"docker.socket listens again on {self.label}, started by something other than lrmatrix: "
                f"its first client starts dockerd"
                if reopened
                else None
            )
        gone = next((t for t, m in entries if any(w in m for w in GONE_WORDS)), None)
        restart = next((t for t, m in entries if "Scheduled restart job" in m), None)
        started = next((t for t, m in entries if m.startswith("Started docker.service")), None)
        after = f" {started - gone:.1f} s after it exited" if started is not None and gone is not None else ""
        if restart is not None:
            return f"systemd restarted dockerd{after} (docker.service has Restart=on-failure; now pid {pid})"
        starting = next((t for t, m in entries if m.startswith("Starting docker.service")), float("inf"))
        if any(m.startswith("Closed docker.socket") for t, m in entries if t < starting):
            # a closed socket unit activates nothing: something started the units again
            return (
                f"docker.socket and docker.service were started again{after} (now pid {pid}) by something "
                f"other than lrmatrix: a start command, or a unit that requires them"
            )
        return (
            f"docker.service started again{after} with docker.socket listening (now pid {pid}): socket "
            f"activation by a client of {self.socket_path}, or a start command that was not lrmatrix's"
        )

    def _journal_since(self, cursor: str) -> list[tuple[float, str]]:
        """(node monotonic seconds, message) of systemd's own messages on the docker units."""
        return [(m.t, m.message) for m in self.unit_messages(cursor, DOCKER_UNITS)]

    def service_mark(self) -> str:
        return self._journal_mark()

    def unit_messages(self, mark: str, units: tuple[str, ...]) -> list[UnitMessage]:
        """systemd's own messages on ``units`` after the journal cursor ``mark``: PID 1's, not
        ``-u docker.service``, since once the unit is masked its "Main process exited" no
        longer matches the unit filter."""
        if not mark:
            return []
        command = shlex.join(["journalctl", "_PID=1", "-o", "json", "--no-pager", "--after-cursor", mark])
        found = []
        for line in self._exec(command, 30).stdout.splitlines():
            try:
                entry = json.loads(line)
                message = str(entry["MESSAGE"])
                if any(unit in message for unit in units):
                    mono, wall = (int(entry[f"__{k}_TIMESTAMP"]) / 1e6 for k in ("MONOTONIC", "REALTIME"))
                    found.append(UnitMessage(mono, wall, message))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def daemon_pid(self) -> int | None:
        """dockerd writes /var/run/docker.pid whoever starts it (systemd or the init script)."""
        raw = self.read_file(self.pidfile)
        try:
            pid = int(raw or b"")
        except ValueError:
            return None
        info = self.processes.proc(pid)
        argv0 = info.cmdline.split()[0] if info and info.cmdline else ""
        return pid if PurePosixPath(argv0).name == "dockerd" else None

    def _log_line(self) -> str:
        """The daemon's own reason, e.g. an invalid daemon.json key, as one line."""
        lines = self._exec(self._manager().log, 30).stdout.splitlines()
        bad = [ln for ln in lines if "level=fatal" in ln or "level=error" in ln]
        return (bad or lines or ["the daemon log is empty"])[-1].strip()

    def logs(self) -> dict[str, bytes]:
        """The daemon's log and the on-node record of what this run changed, for the results."""
        try:
            found = {"dockerd.log": self._exec(self._manager().log, 30).stdout.encode()}
            record = self.read_file(self.record_path)
        except LrmatrixError as exc:  # teardown must go on without them
            return {"dockerd.log": f"not read: {exc}\n".encode()}
        return found | ({"changes.json": record} if record else {})


def _start_ticks(pid: int) -> int | None:
    """A local process's start time (clock ticks since boot): with the pid, who it is."""
    try:
        stat = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None
    return stat.start_ticks if stat is not None else None
