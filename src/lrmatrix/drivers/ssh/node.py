"""The ssh driver: an existing plain Docker host reached with paramiko (pre-upgrade validation).

Nothing is created: the node exists and carries other people's work, so the driver runs only
with ``--allow-disruption``, checks host keys against known_hosts and never accepts an unknown
one. The connection and the node's files are the transport's (``transport``); what a run
changes, kept on the node so that it can be undone after a crash, is the change record's
(``changes``); who brought dockerd back is read from the journal (``journal``).

The daemon is stopped and started the way the node's init system does it: systemd
(``docker.socket`` too, or any client socket-activates dockerd again) or Debian's sysvinit
script ``service docker stop|start``. On systemd the crash variant masks docker.service for its
window (``--runtime``), since Restart=on-failure would otherwise start dockerd again within a
second.

Settings (node-spec option, else environment): those of the connection (``transport``), and
``daemon_json`` / LRMATRIX_SSH_DAEMON_JSON (default /etc/docker/daemon.json).
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.drivers import planned
from lrmatrix.drivers.base import PID, Node, UnitMessage, signal_argv
from lrmatrix.drivers.planned import Planned
from lrmatrix.drivers.ssh import journal
from lrmatrix.drivers.ssh import observed as observe_mode
from lrmatrix.drivers.ssh.changes import WORK_ROOT, ChangeRecord
from lrmatrix.drivers.ssh.service_manager import DETECT, SYSTEMD, SYSVINIT, ServiceManager
from lrmatrix.drivers.ssh.transport import (
    CONNECT_TIMEOUT_S,
    SshTarget,
    SshTransport,
    read_line,
    setting,
    write_line,
)
from lrmatrix.drivers.transport import read_files
from lrmatrix.errors import BadInput, EnvironmentProblem, LrmatrixError, NodeError
from lrmatrix.evidence.other_containers import OtherContainer, OtherContainers, inspected, observe
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.modules.dockerd import API_READY, DOCKER_SERVICE, DOCKER_UNITS
from lrmatrix.workload.containers import LABEL, NAME_PREFIX

if TYPE_CHECKING:
    from lrmatrix.drivers.spec import NodeSpec
    from lrmatrix.matrix.model import Cell

#: how long a stopped dockerd's API socket may take to stop listening
SOCKET_GONE_S = 1.0


def no_stdin(line: str) -> str:
    """A service-manager line with no stdin: it would wait for one."""
    return line + " </dev/null"


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
        self.target = SshTarget.from_spec(spec)
        self._transport = SshTransport(self.target)
        self._daemon_json = setting(
            spec, "daemon_json", "LRMATRIX_SSH_DAEMON_JSON", "/etc/docker/daemon.json"
        )
        self.pidfile = "/var/run/docker.pid"
        self.manager: ServiceManager | None = None
        self.changes = ChangeRecord(self)
        self.caveat: str | None = None
        self._journal_cursor = ""
        self._stopped = False  # by lrmatrix, and not started again since
        self.problems: list[str] = []

    # --- where things are ----------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.target.label

    @property
    def host(self) -> str:
        return self.target.host

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
    def socket_path(self) -> str:
        return "/var/run/docker.sock"

    @property
    def work_dir(self) -> str:
        return f"{WORK_ROOT}/{self.cell.name}"

    @property
    def record_path(self) -> str:
        return self.changes.path

    # --- access: the transport's ---------------------------------------------------------
    @property
    def transport(self) -> SshTransport:
        """One transport (on the one connection) for the harness and the checks."""
        return self._transport

    def close(self) -> None:
        self.transport.close()

    def read_file(self, path: str) -> bytes | None:
        return self.transport.read_file(path)

    def read_files(self, paths: list[str]) -> dict[str, bytes | None]:
        """All in one command: one round trip, not one per file."""
        return read_files(self.run, paths)

    def write_file(self, path: str, data: bytes) -> None:
        self.transport.write_file(path, data)

    def upload(self, local: Path, remote: str) -> None:
        self.transport.upload(local, remote)

    def exists(self, path: str) -> bool:
        return self.transport.exists(path)

    def shell(self, command: str, timeout: float) -> None:
        """A service-manager command line that must succeed (no stdin: it would wait for one)."""
        res = self.transport.shell(no_stdin(command), timeout, (command,))
        if not res.ok:
            raise NodeError(f"`{command}` failed on {self.label}: {res.one_line()}")

    def import_image(self, tarball: str, tag: str, cmd: str) -> None:
        """The tarball is on the harness's machine: upload it, import it, and remember to remove it."""
        if self.dockerd.cli("image", "inspect", tag).ok:
            return
        remote = f"{self.work_dir}/{PurePosixPath(tarball).name}"
        made = self.run(["mkdir", "-p", self.work_dir])
        if not made.ok:
            raise NodeError(f"`mkdir -p {self.work_dir}` failed on {self.label}: {made.one_line()}")
        try:
            self.upload(Path(tarball), remote)
            super().import_image(remote, tag, cmd)
        finally:
            self.run(["rm", "-f", remote])
        self.changes.imported.append(tag)
        self.changes.write()

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
        found = self.transport.shell("command -v docker && command -v dockerd", CONNECT_TIMEOUT_S)
        if not found.ok:
            raise EnvironmentProblem(
                f"{self.label} has no Docker engine (docker/dockerd not on root's PATH); install docker.io"
            )
        if self.run(["id", "-u"]).stdout.strip() != "0":
            raise EnvironmentProblem(
                f"the ssh driver needs root on {self.label} (it edits {self.daemon_json_path} and "
                f"restarts dockerd); use ssh://root@{self.host}"
            )
        manager = self.service_manager()
        if not self.dockerd.api_ready():
            raise EnvironmentProblem(
                f"dockerd is not running on {self.label}; start it (`{manager.start}`) "
                f"so the run starts from the node's normal state"
            )
        leftover = self.changes.left_behind()
        if leftover:
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
        # last: the node's own containers as they are before anything changes; in observe mode
        # the cell's workload is some of them, which must be left as they are
        selector = self.cell.workload.observe if self.cell.workload else None
        watched = observe_mode.select(inspected(self.dockerd), selector, self.label) if selector else ()
        refused = observe_mode.refusal(watched, self.cell) if watched else None
        if refused:
            raise BadInput(refused)
        skip = frozenset(c.id for c in watched)
        self.changes.others = OtherContainers(
            observe(self.dockerd, self.changes.own_label, skip), self.cell.live_restore, observed=watched
        )

    @property
    def observed(self) -> tuple[OtherContainer, ...]:
        """The user's containers this cell observes, as recorded before anything changed."""
        return self.changes.others.observed if self.changes.others is not None else ()

    def other_containers(self) -> OtherContainers | None:
        return self.changes.others

    def _loopback_caveat(self) -> str | None:
        """A node reached at a loopback address is this machine: the probe's ``node`` path then
        reaches the published ports through 127.0.0.1, i.e. through docker-proxy, which exits
        with dockerd, so its failures while down say nothing about live-restore."""
        try:
            infos = socket.getaddrinfo(self.host, self.target.port, proto=socket.IPPROTO_TCP)
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

    def service_manager(self) -> ServiceManager:
        """How the node's init system runs dockerd, found on first use."""
        self.manager = self.manager or self._detect_manager()
        return self.manager

    def _detect_manager(self) -> ServiceManager:
        found = self.transport.shell(DETECT, CONNECT_TIMEOUT_S).stdout.strip()
        if found == "systemd":
            return SYSTEMD
        if found == "sysvinit":
            return SYSVINIT
        raise EnvironmentProblem(
            f"cannot tell how dockerd is managed on {self.label}: no systemd and no /etc/init.d/docker"
        )

    # --- lifecycle: the change record's --------------------------------------------------
    def create(self) -> None:
        """Create nothing: back up daemon.json on the node, then record what the run will change."""
        self.service_manager()
        self.changes.begin()

    def destroy(self) -> None:
        """Undo what the on-node backup and record say, also after a crash; safe to call twice."""
        try:
            self.problems += self.changes.undo()
        finally:
            self.close()

    def live_harness(self) -> str | None:
        return self.changes.live_harness()

    def recorded_by(self) -> str:
        return self.changes.recorded_by()

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
            left += self.changes.residue()
            if self.manager is SYSTEMD:
                enabled = self.transport.shell(
                    f"systemctl is-enabled {DOCKER_SERVICE}", CONNECT_TIMEOUT_S
                ).stdout.strip()
                if enabled.startswith("masked"):
                    left.append(f"{DOCKER_SERVICE} on {self.label} is {enabled} (`{SYSTEMD.release}`)")
        except LrmatrixError as exc:
            left.append(f"cannot check {self.label}: {exc}")
        finally:
            self.close()
        return left

    # --- the daemon ----------------------------------------------------------------------
    def start_daemon(self) -> None:
        manager = self.service_manager()
        if self.changes.held:
            self.changes.release({})
        self._stopped = False
        res = self.transport.shell(no_stdin(manager.start), 60, (manager.start,))
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
        manager = self.service_manager()
        if not manager.reload:
            super().reload_daemon()
            return
        self.shell(manager.reload, 60)

    def stop_daemon(self, signal_name: str) -> None:
        pid = self.daemon_pid()
        if pid is None:
            return
        self._spare_observed()
        manager = self.service_manager()
        timeout = self.cell.timings.stop_timeout_s
        self._journal_cursor = self._journal_mark()
        self._stopped = True
        if signal_name == "SIGTERM":
            self.shell(manager.stop, timeout + 15)
        else:  # the crash variant: the signal itself, with the init system held off
            if manager.hold and not self.cell.respawn:
                self.changes.held = True
                self.changes.write()  # first: a run killed from here on is undone by `recover`
                self.shell(manager.hold, 30)
            self.shell(shlex.join(signal_argv(signal_name, pid)), 15)
        if not poll(lambda: self.processes.proc(pid) is None, timeout, 0.05):
            raise NodeError(f"dockerd (pid {pid}) on {self.label} did not exit within {timeout:.0f}s")
        if self.cell.respawn:  # the service manager's answer is what the cell measures
            return
        if signal_name != "SIGTERM" and manager.after_kill:
            self.shell(manager.after_kill, 30)
        # a killed dockerd's socket can outlive its pid by a moment (the kernel releases a unix
        # socket lazily); one that stays is a socket unit (its first client starts dockerd) or dockerd
        if not poll(lambda: not self.dockerd.socket_listening(), SOCKET_GONE_S, 0.05):
            why = self.why_up_again() or f"something still listens on {self.socket_path}"
            how = manager.stop if signal_name == "SIGTERM" else f"{signal_name} to dockerd"
            raise NodeError(f"dockerd on {self.label} is not down after `{how}`: {why}")

    def _spare_observed(self) -> None:
        """Observe mode: dockerd is stopped only as the cell planned it (``sanity_checks`` judged
        that stop); one while it runs with another live-restore setting (the setup's restart
        after a reload that did not take) would stop the observed containers."""
        if not self.observed:
            return
        effective = self.dockerd.effective_live_restore()
        if effective is not self.cell.live_restore:
            names = ", ".join(c.name for c in self.observed)
            raise NodeError(
                f"dockerd on {self.label} runs with live-restore={str(effective).lower()}, not the cell's; "
                f"stopping it would stop the observed containers {names}: not stopped"
            )

    # --- what each operation runs (``lrmatrix plan CELL --commands``) ----------------------
    def plan_shell(self, line: str) -> Planned:
        """A service-manager line as ``shell`` sends it."""
        return Planned("run", f"[{self.label}] {no_stdin(line)}")

    def plan_manager(self) -> ServiceManager:
        """The one found on the node once connected; before that, systemd (the other is named)."""
        return self.manager or SYSTEMD

    def plan_create(self) -> list[Planned]:
        path, changes = self.daemon_json_path, self.changes
        return [
            self.plan_shell(DETECT),
            planned.note(
                f"the plan shows systemd's lines; under sysvinit: `{SYSVINIT.stop}`, `{SYSVINIT.start}`, "
                "and SIGHUP to the pidfile's dockerd for a reload"
            ),
            *self.plan_read(path),
            self.planned(["cp", "-p", path, changes.backup_path]),
            *self.plan_write(changes.path, "the run's record (what it changes, for `lrmatrix recover`)"),
        ]

    def plan_start(self) -> list[Planned]:
        manager = self.plan_manager()
        return [
            self.plan_shell(manager.start),
            planned.wait(
                f"{self.transport.line(API_READY)} answers, or dockerd died at once",
                self.cell.timings.ready_timeout_s,
            ),
        ]

    def plan_stop(self, signal_name: str) -> list[Planned]:
        manager, bound = self.plan_manager(), self.cell.timings.stop_timeout_s
        if signal_name == "SIGTERM":
            steps = [self.plan_shell(manager.stop)]
        else:
            held = manager.hold and not self.cell.respawn
            steps = [
                *(
                    [
                        self.plan_write(self.changes.path, "the record says the unit is held")[0],
                        self.plan_shell(manager.hold),
                    ]
                    if held
                    else []
                ),
                self.planned(signal_argv(signal_name, PID)),
            ]
        steps.append(planned.wait("dockerd's pid has exited (every 0.05 s)", bound))
        if self.cell.respawn:
            return [*steps, planned.note("then the service manager's own restart is what the cell measures")]
        if signal_name != "SIGTERM" and manager.after_kill:
            steps.append(self.plan_shell(manager.after_kill))
        return [*steps, planned.wait(f"nothing listens on {self.socket_path}", SOCKET_GONE_S)]

    def plan_reload(self) -> list[Planned]:
        manager = self.plan_manager()
        return [self.plan_shell(manager.reload)] if manager.reload else super().plan_reload()

    def plan_read(self, path: str) -> list[Planned]:
        return [Planned("run", f"[{self.label}] {read_line(path)}")]

    def plan_write(self, path: str, text: str) -> list[Planned]:
        return [Planned("run", f"[{self.label}] {write_line(path)}  (stdin: {text})")]

    def plan_destroy(self) -> list[Planned]:
        manager = self.plan_manager()
        undo = (
            [self.plan_shell(manager.release)]
            if manager.release and self.cell.stop_signal != "SIGTERM" and not self.cell.respawn
            else []
        )
        return [
            *undo,
            planned.note(
                f"daemon.json checked against {self.changes.backup_path}; the backup and "
                f"{self.changes.path} removed; the node's own containers brought back as they were"
            ),
        ]

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

    # --- who brought it back: the journal's ----------------------------------------------
    def _journal_mark(self) -> str:
        """Where the journal is now (systemd), to read what happened to the units after it."""
        if self.service_manager() is not SYSTEMD:
            return ""
        return journal.mark(self.transport.shell, CONNECT_TIMEOUT_S)

    def service_mark(self) -> str:
        return self._journal_mark()

    def unit_messages(self, mark: str, units: tuple[str, ...]) -> list[UnitMessage]:
        return journal.unit_messages(self.transport.shell, mark, units)

    def why_up_again(self) -> str | None:
        """Why dockerd runs again after lrmatrix stopped it, in one sentence; None if it does
        not. Without systemd's journal only the fact is known: lrmatrix did not start it."""
        # a dockerd just started may not have written its pidfile yet
        pid = self.daemon_pid() or next(iter(self.processes.named("dockerd")), None)
        systemd = self.service_manager() is SYSTEMD and bool(self._journal_cursor)
        if pid is None and not systemd:
            return None
        if not systemd:
            return f"dockerd runs again on {self.label} (pid {pid}), and lrmatrix did not start it"
        messages = self.unit_messages(self._journal_cursor, DOCKER_UNITS)
        return journal.why_up_again(messages, pid, self.label, self.socket_path)

    # --- logs ----------------------------------------------------------------------------
    def _log_line(self) -> str:
        """The daemon's own reason, e.g. an invalid daemon.json key, as one line."""
        lines = self.transport.shell(self.service_manager().log, 30).stdout.splitlines()
        bad = [ln for ln in lines if "level=fatal" in ln or "level=error" in ln]
        return (bad or lines or ["the daemon log is empty"])[-1].strip()

    def logs(self) -> dict[str, bytes]:
        """The daemon's log and the on-node record of what this run changed, for the results."""
        try:
            found = {"dockerd.log": self.transport.shell(self.service_manager().log, 30).stdout.encode()}
            record = self.read_file(self.record_path)
        except LrmatrixError as exc:  # teardown must go on without them
            return {"dockerd.log": f"not read: {exc}\n".encode()}
        return found | ({"changes.json": record} if record else {})
