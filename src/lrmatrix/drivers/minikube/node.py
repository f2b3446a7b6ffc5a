"""The minikube driver: one profile per Kubernetes version (``lrm-k8s128``), Docker runtime
through cri-dockerd, systemd inside the node.

Every command (minikube, kubectl, ``minikube ssh -- ...``) goes through one runner, so a
recording runner (the dry-run tests) sees exactly what a real run executes; a command on the
node, the harness's or a check's, is ``minikube ssh`` through ``MinikubeTransport`` on it.
Both cells of a version share the profile: the cell merges live-restore into the daemon.json
minikube wrote and reloads docker (the unit's ExecReload sends SIGHUP) instead of creating a
new cluster. The control plane runs in Docker (kubeadm static pods), so after any start of
docker the driver waits for it before anything uses the API, and every start resets
docker.service's start limit (StartLimitBurst=3 in 60 s).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from lrmatrix.command import CmdResult
from lrmatrix.deadline import poll
from lrmatrix.drivers import planned
from lrmatrix.drivers.base import Node
from lrmatrix.drivers.planned import Planned
from lrmatrix.drivers.transport import Transport
from lrmatrix.errors import BadInput, EnvironmentProblem, NodeError
from lrmatrix.evidence.probe import Target
from lrmatrix.kube import upstream
from lrmatrix.kube.api import guard_context
from lrmatrix.kube.control_plane import ControlPlaneWait, wait_control_plane
from lrmatrix.kube.runner import RealRunner, Runner, shell_text
from lrmatrix.kube.settings import matrix_table
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.modules.dockerd import API_READY, DOCKER_SERVICE, DOCKER_UNITS

if TYPE_CHECKING:
    from lrmatrix.drivers import NodeSpec
    from lrmatrix.kube.api import Kube
    from lrmatrix.matrix.cells import Cell

#: `minikube profile list` statuses from which a cell cannot start
FAILED_STATES = ("Error", "Unknown", "Misconfigured")

# The node's command lines, as data: the node's methods run these and `lrmatrix plan
# --commands` prints them, so the plan cannot show a command the driver does not send.
#: dockerd's command line as systemd will start it (the unit's ExecStart)
EXEC_START = ["sudo", "systemctl", "show", DOCKER_SERVICE, "--property=ExecStart", "--value"]
#: the unit's start limit (StartLimitBurst=3 in 60 s) cleared before each start
RESET_FAILED = ["sudo", "systemctl", "reset-failed", DOCKER_SERVICE]
START = ["sudo", "systemctl", "start", DOCKER_SERVICE]
#: the socket too: a listening docker.socket lets any client start dockerd again
STOP = ["sudo", "systemctl", "stop", *DOCKER_UNITS]
#: the unit's ExecReload sends SIGHUP: dockerd rereads daemon.json, nothing restarts
RELOAD = ["sudo", "systemctl", "reload", DOCKER_SERVICE]
IS_ACTIVE = ["sudo", "systemctl", "is-active", DOCKER_SERVICE]
PIDOF = ["pidof", "dockerd"]
#: how often a stop looks whether dockerd is gone
STOP_POLL_S = 0.5


def read_argv(path: str) -> list[str]:
    return ["sudo", "cat", "--", path]


def write_line(path: str, text: str) -> str:
    """``tee`` rewrites in place (same inode); the text is visible in the runner's record."""
    return f"printf '%s' {shlex.quote(text)} | sudo tee {shlex.quote(path)} >/dev/null"


#: the cri-dockerd the node carries prints its version and commit
CRI_DOCKERD_VERSION = ("cri-dockerd", "--version")


@dataclass(frozen=True)
class MinikubeSettings:
    """How profiles are started: from matrix.toml [minikube], overridden by the environment."""

    release: str = ""
    driver: str = "docker"
    start_flags: tuple[str, ...] = ()
    keep: bool = False

    @classmethod
    def load(cls, options: dict[str, str] | None = None) -> MinikubeSettings:
        table = matrix_table("minikube")
        flags = os.environ.get("LRMATRIX_MINIKUBE_FLAGS")
        keep = (options or {}).get("keep") or os.environ.get("LRMATRIX_KEEP", "")
        return cls(
            release=str(table.get("release", "")),
            driver=os.environ.get("LRMATRIX_MINIKUBE_DRIVER") or str(table.get("driver", "docker")),
            start_flags=tuple(env_flags(flags) if flags is not None else table.get("start_flags", [])),
            keep=keep.lower() in ("1", "true", "yes"),
        )


def env_flags(text: str) -> list[str]:
    """``LRMATRIX_MINIKUBE_FLAGS`` split as a shell would, or one line saying why it cannot be."""
    try:
        return shlex.split(text)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise BadInput(
            f"LRMATRIX_MINIKUBE_FLAGS={text!r}: {exc}; quote it as you would on a shell command line"
        ) from None


@dataclass
class ToolVersions:
    """What sanity_checks found on this machine (recorded in the result, not assumed)."""

    minikube: str = ""
    kubectl: str = ""
    notes: list[str] = field(default_factory=list)


class MinikubeTransport(Transport):
    """Commands on the node as ``minikube -p PROFILE ssh -- LINE``, through the cell's runner,
    so a recording runner sees the harness's commands and the checks' alike. minikube logs in as
    ``docker``: the harness's lines say ``sudo`` where they need root; the checks' commands
    (testinfra's ``run``) are wrapped in sudo (``sudo=True``), as root is what they assume."""

    NAME = "lrmatrix-minikube"

    def __init__(self, runner: Runner, profile: str, **kwargs: Any) -> None:
        self.runner = runner
        self.profile = profile
        super().__init__(profile, **kwargs)

    def outer(self, line: str) -> list[str]:
        """``minikube ssh`` joins its arguments into one remote shell line, so the line is
        passed as one argument, quoted by the caller once."""
        return ["minikube", "-p", self.profile, "ssh", "--", line]

    def shell(self, line: str, timeout: float, argv: Sequence[str] = ()) -> CmdResult:
        res = self.runner.run(self.outer(line), timeout=timeout)
        return CmdResult(tuple(argv) or (line,), res.rc, res.stdout, res.stderr)

    def line(self, argv: Sequence[str]) -> str:
        return self.display(shlex.join(argv))

    def display(self, line: str) -> str:
        """As a user would type it: ``minikube ssh`` joins its arguments with spaces, so the
        remote line follows ``--`` as it is."""
        return f"{shell_text(self.outer(line)[:-1])} {line}"


class MinikubeNode(Node):
    scheme = "minikube"
    requires: ClassVar[dict[str, str]] = {}  # minikube and kubectl are not Debian packages

    def __init__(
        self,
        cell: Cell,
        spec: NodeSpec | None = None,
        runner: Runner | None = None,
        settings: MinikubeSettings | None = None,
        kube: Kube | None = None,
    ) -> None:
        super().__init__(cell)
        if not cell.kubernetes:
            raise BadInput(f"cell {cell.name!r} has no Kubernetes version; the minikube driver needs one")
        self.runner = runner or RealRunner()
        self.options = dict(spec.options) if spec else {}
        self.settings = settings or MinikubeSettings.load(self.options)
        self.profile = (spec.path.strip("/") if spec and spec.path else "") or f"lrm-{cell.platform}"
        self.tools = ToolVersions()
        self._address: str | None = None
        self._destroyed = False
        self._kube = kube
        self._transport: MinikubeTransport | None = None
        #: every wait for the control plane after docker started, in order (for the result)
        self.control_plane_waits: list[ControlPlaneWait] = []

    # --- where things are ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.profile

    @property
    def kube_context(self) -> str:
        """minikube names the kubeconfig context after the profile."""
        return self.profile

    @property
    def daemon_json_path(self) -> str:
        return "/etc/docker/daemon.json"

    @property
    def socket_path(self) -> str:
        return "/var/run/docker.sock"

    @property
    def work_dir(self) -> str:
        return "/var/tmp/lrmatrix"

    @property
    def address(self) -> str:
        if self._address is None:
            res = self.minikube("ip")
            if not res.ok or not res.stdout.strip():
                raise NodeError(f"minikube -p {self.profile} ip failed: {res.one_line()}")
            self._address = res.stdout.strip().splitlines()[-1]
        return self._address

    # --- commands ------------------------------------------------------------------------
    def minikube_argv(self, *args: str) -> list[str]:
        return ["minikube", "-p", self.profile, *args]

    def minikube(self, *args: str, timeout: float = 120.0) -> CmdResult:
        return self.runner.run(self.minikube_argv(*args), timeout=timeout)

    @property
    def transport(self) -> MinikubeTransport:
        """One transport for the harness and the checks, on the cell's runner."""
        if self._transport is None:
            self._transport = MinikubeTransport(self.runner, self.profile, sudo=True)
        return self._transport

    def sudo(self, *argv: str, timeout: float = 60.0) -> CmdResult:
        return self.run(["sudo", *argv], timeout=timeout)

    def read_file(self, path: str) -> bytes | None:
        res = self.run(read_argv(path))
        if res.ok:
            return res.stdout.encode()
        if "No such file" in res.stdout + res.stderr:
            return None
        raise NodeError(f"cannot read {path} on {self.profile}: {res.one_line()}")

    def write_file(self, path: str, data: bytes) -> None:
        res = self.transport.shell(write_line(path, data.decode()), 120.0)
        if not res.ok:
            raise NodeError(f"cannot write {path} on {self.profile}: {res.one_line()}")

    # --- checks before anything changes --------------------------------------------------
    def sanity_checks(self) -> None:
        guard_context(self.options.get("kube_context"), self.kube_context)
        refuse_unreachable_node(self.settings.driver)
        self.tools.minikube = self._tool_version(["minikube", "version", "--short"], "minikube")
        raw = self._tool_version(["kubectl", "version", "--client", "-o", "json"], "kubectl")
        try:
            self.tools.kubectl = json.loads(raw)["clientVersion"]["gitVersion"]
        except (ValueError, KeyError, TypeError):
            self.tools.kubectl = raw.strip()
        if self.settings.release and self.tools.minikube != self.settings.release:
            here, pinned = self.tools.minikube, self.settings.release
            self.tools.notes.append(f"minikube {here} here; the matrix pins were chosen for {pinned}")
        profile = self._profile_state()
        if profile is None:
            return
        status = "invalid" if profile.get("_invalid") else str(profile.get("Status", ""))
        if status in (*FAILED_STATES, "invalid"):
            raise EnvironmentProblem(
                f"minikube profile {self.profile} is in state {status}; "
                f"delete it with `minikube delete -p {self.profile}` and run again"
            )
        version = str(profile.get("Config", {}).get("KubernetesConfig", {}).get("KubernetesVersion", ""))
        if version and version != self.cell.kubernetes:
            raise EnvironmentProblem(
                f"minikube profile {self.profile} runs Kubernetes {version}, the cell pins "
                f"{self.cell.kubernetes}; delete the profile (`minikube delete -p {self.profile}`)"
            )

    def _tool_version(self, argv: list[str], tool: str) -> str:
        res = self.runner.run(argv, timeout=30)
        if res.rc == 127:
            raise EnvironmentProblem(f"{tool} is not installed (or not on PATH); Kubernetes cells need it")
        if not res.ok:
            raise EnvironmentProblem(f"`{shell_text(argv)}` failed: {res.one_line()}")
        return res.stdout.strip()

    def _profile_state(self) -> dict[str, Any] | None:
        """This profile's entry in ``minikube profile list -o json``; None if it does not exist."""
        res = self.runner.run(["minikube", "profile", "list", "-o", "json"], timeout=60)
        try:
            data = json.loads(res.stdout or "{}")
        except ValueError:
            if "no minikube profile" in (res.stdout + res.stderr).lower():
                return None
            raise EnvironmentProblem(f"minikube profile list failed: {res.one_line()}") from None
        for entry in data.get("invalid") or []:
            if entry.get("Name") == self.profile:
                return {**entry, "_invalid": True}
        for entry in data.get("valid") or []:
            if entry.get("Name") == self.profile:
                return dict(entry)
        return None

    # --- lifecycle -----------------------------------------------------------------------
    def start_argv(self) -> list[str]:
        return [
            "minikube",
            "start",
            "-p",
            self.profile,
            f"--kubernetes-version={self.cell.kubernetes}",
            "--container-runtime=docker",
            f"--driver={self.settings.driver}",
            *self.settings.start_flags,
        ]

    def delete_argv(self) -> list[str]:
        return ["minikube", "delete", "-p", self.profile]

    def create(self) -> None:
        """Start (or restart) the profile. minikube rewrites daemon.json on every start, so
        the file the cell backs up and merges into is minikube's own."""
        for flag in self.settings.start_flags:
            if flag.startswith("--docker-opt") and "live-restore" in flag:
                raise BadInput(
                    f"extra start flag {flag} sets live-restore as a dockerd flag; the cell owns it"
                )
        res = self.runner.run(self.start_argv(), timeout=900)
        if not res.ok:
            raise NodeError(f"minikube start -p {self.profile} failed: {res.one_line()}")
        daemon_config.check_flags(self.dockerd_argv())
        self.dockerd.wait_api(self.cell.timings.ready_timeout_s, every=1.0, clock=self.runner.clock)

    def dockerd_argv(self) -> list[str]:
        """dockerd's command line as systemd will start it (the unit's ExecStart)."""
        res = self.run(EXEC_START)
        if not res.ok:
            raise NodeError(f"cannot read {DOCKER_SERVICE} on {self.profile}: {res.one_line()}")
        for part in res.stdout.split(";"):
            key, _, value = part.strip().partition("=")
            if key.strip() == "argv[]":
                return shlex.split(value)
        return []

    def start_daemon(self) -> None:
        """Start docker, then wait for the control plane (its static pods are Docker
        containers). reset-failed first: configuration, recovery and teardown starts add up,
        and a fourth start within 60 s would hit the unit's start limit."""
        daemon_config.check_flags(self.dockerd_argv())
        self.run(RESET_FAILED)
        res = self.run(START)
        if not res.ok:
            raise NodeError(f"{DOCKER_SERVICE} did not start on {self.profile}: {res.one_line()}")
        self.dockerd.wait_api(self.cell.timings.recover_timeout_s, every=1.0, clock=self.runner.clock)
        self.wait_control_plane()

    def wait_control_plane(self) -> ControlPlaneWait:
        from lrmatrix.kube.settings import KubeSettings

        poll = KubeSettings.load().node_poll_s
        done = wait_control_plane(self.kube_client(), self.cell.timings.recover_timeout_s, poll)
        self.control_plane_waits.append(done)
        return done

    def reload_daemon(self) -> None:
        """``systemctl reload docker.service``: minikube's unit has ExecReload=/bin/kill -s HUP
        $MAINPID, so dockerd rereads daemon.json and nothing is restarted."""
        res = self.run(RELOAD)
        if not res.ok:
            raise NodeError(f"systemctl reload {DOCKER_SERVICE} failed on {self.profile}: {res.one_line()}")

    def stop_daemon(self, signal_name: str) -> None:
        """Stop the socket too: a listening docker.socket lets any client (cri-dockerd, a
        check's `docker ps`) start dockerd again in the middle of the outage."""
        if signal_name != "SIGTERM":
            raise BadInput(f"minikube nodes stop docker through systemd (SIGTERM), not {signal_name}")
        res = self.run(STOP, timeout=self.cell.timings.stop_timeout_s + 30)
        if not res.ok:
            raise NodeError(f"systemctl stop {' '.join(DOCKER_UNITS)} failed: {res.one_line()}")
        if not poll(
            lambda: self.daemon_pid() is None,
            self.cell.timings.stop_timeout_s,
            STOP_POLL_S,
            self.runner.clock,
        ):
            raise NodeError(f"dockerd still runs {self.cell.timings.stop_timeout_s:.0f}s after the stop")

    # --- what each operation runs (``lrmatrix plan CELL --commands``) ----------------------
    def plan_local(self, argv: list[str]) -> Planned:
        """A command on this machine (minikube itself), as the runner runs it."""
        return Planned("run", shell_text(argv))

    def plan_api_ready(self, bound_s: float) -> Planned:
        return planned.wait(f"{self.transport.line(API_READY)} answers (every 1 s)", bound_s)

    def plan_create(self) -> list[Planned]:
        return [
            self.plan_local(self.start_argv()),
            self.planned(EXEC_START),
            planned.note(
                "dockerd's flags read from the unit: a live-restore flag is refused (daemon.json owns it)"
            ),
            self.plan_api_ready(self.cell.timings.ready_timeout_s),
            self.plan_local(self.minikube_argv("ip")),
        ]

    def plan_start(self) -> list[Planned]:
        return [
            self.planned(EXEC_START),
            self.planned(RESET_FAILED),
            self.planned(START),
            self.plan_api_ready(self.cell.timings.recover_timeout_s),
            *self.plan_control_plane(),
        ]

    def plan_control_plane(self) -> list[Planned]:
        """``wait_control_plane``: its three stages in order within one deadline, each stage's
        API call as the client makes it."""
        from lrmatrix.kube.capture import api_calls
        from lrmatrix.kube.control_plane import node_ready, static_pods_ready
        from lrmatrix.kube.settings import KubeSettings

        stages = [
            (api_calls(lambda kube: kube.readyz()), "answers ok"),
            (api_calls(node_ready), "shows the one node Ready"),
            (api_calls(static_pods_ready), f"shows {', '.join(upstream.STATIC_PODS)} Running and Ready"),
        ]
        until = ", then ".join(f"`{' '.join(calls)}` {what}" for calls, what in stages)
        every = KubeSettings.load().node_poll_s
        bound = self.cell.timings.recover_timeout_s
        return [planned.wait(f"the control plane is back: {until} (every {every:g} s)", bound)]

    def plan_stop(self, signal_name: str) -> list[Planned]:
        if signal_name != "SIGTERM":
            return [planned.note(f"refused: minikube nodes stop docker through systemd, not {signal_name}")]
        bound = self.cell.timings.stop_timeout_s
        return [
            self.planned(STOP),
            planned.wait(f"{self.transport.line(PIDOF)} finds no dockerd (every {STOP_POLL_S:g} s)", bound),
        ]

    def plan_reload(self) -> list[Planned]:
        return [self.planned(RELOAD)]

    def plan_read(self, path: str) -> list[Planned]:
        return [self.planned(read_argv(path))]

    def plan_write(self, path: str, text: str) -> list[Planned]:
        return [Planned("run", self.transport.display(write_line(path, text)))]

    def plan_destroy(self) -> list[Planned]:
        if not self.keeps_profile():
            return [self.plan_local(self.delete_argv())]
        path = self.daemon_json_path
        return [
            planned.note(f"profile {self.profile} kept (--keep, or a later cell of this version uses it)"),
            *self.plan_read(path),
            planned.note(
                "if the running dockerd's live-restore differs from the file: the key written, "
                "a reload, the file's original bytes back"
            ),
            *self.plan_reload(),
        ]

    def daemon_pid(self) -> int | None:
        res = self.run(PIDOF)
        pids = res.stdout.split()
        return int(pids[0]) if res.ok and pids and pids[0].isdigit() else None

    def keeps_profile(self) -> bool:
        """--keep keeps it; otherwise the last cell of this version (matrix order) deletes it."""
        if self.settings.keep:
            return True
        same = [c.name for c in load_matrix().cells if c.platform == self.cell.platform]
        return bool(same) and same[-1] != self.cell.name

    def destroy(self) -> None:
        """Delete the profile, or leave it with docker running its original daemon.json (the
        scenario restored the file before this; a restart makes it the effective one)."""
        if self._destroyed:
            return
        self._destroyed = True
        if self.keeps_profile():
            self.match_daemon_to_file()
            return
        res = self.runner.run(self.delete_argv(), timeout=300)
        if not res.ok:
            raise NodeError(f"minikube delete -p {self.profile} failed: {res.one_line()}")

    def match_daemon_to_file(self) -> None:
        """A kept profile's dockerd must run with what its (restored) daemon.json says, without
        a restart: with live-restore off a restart kills every pod and the control plane.
        moby applies live-restore on reload only when the file sets it, so the key is written
        explicitly for the reload and the original bytes are put back right after."""
        path = self.daemon_json_path
        original = self.read_file(path)
        want = bool(daemon_config.parse(original, path).get(daemon_config.KEY, False))
        if self.daemon_pid() is None or self.dockerd.effective_live_restore() is want:
            return
        self.write_file(path, daemon_config.merge_live_restore(original, want, path))
        try:
            self.reload_daemon()
        finally:
            if original is None:
                self.sudo("rm", "-f", path)
            else:
                self.write_file(path, original)

    def residue(self) -> list[str]:
        if not self._destroyed:
            return []
        if self.keeps_profile():
            res = self.run(IS_ACTIVE)
            if res.stdout.strip() != "active":
                return [f"{DOCKER_SERVICE} on {self.profile} is not active"]
            want = bool(
                daemon_config.parse(self.read_file(self.daemon_json_path)).get(daemon_config.KEY, False)
            )
            if self.dockerd.effective_live_restore() is not want:
                return [
                    f"dockerd on {self.profile} still runs with live-restore={str(not want).lower()}; "
                    f"a restart would apply daemon.json (and, without live-restore, restart every pod)"
                ]
            return []
        return [f"minikube profile {self.profile}"] if self._profile_state() is not None else []

    def versions(self) -> dict[str, str]:
        """Read on the node, never taken from the pins: kicbase installs whatever docker-ce was
        current when its image was built (``docker version`` says which), and cri-dockerd is
        the one that image carries (``cri-dockerd --version``)."""
        found = super().versions()
        found["cri-dockerd"] = self.cri_dockerd_version()
        found.update({f"{k}_tool": v for k, v in vars(self.tools).items() if isinstance(v, str) and v})
        return found

    def plan_versions(self) -> list[Planned]:
        return [*super().plan_versions(), self.planned(list(CRI_DOCKERD_VERSION))]

    def cri_dockerd_version(self) -> str:
        """The version and commit the binary on the node prints (e.g. ``0.4.1 (55d6e1a...)``),
        or what went wrong: a version column never shows a guess."""
        res = self.run(list(CRI_DOCKERD_VERSION), timeout=30)
        version = upstream.cri_dockerd_version(res.stdout) if res.ok else ""
        return version or f"unknown (cri-dockerd --version: {res.one_line()})"

    def kube_client(self) -> Kube:
        """Exactly this profile's context from $KUBECONFIG (or ~/.kube/config), never another;
        one client for the whole cell, so the scenario and the driver's waits share it."""
        if self._kube is None:
            from lrmatrix.kube.api import Kube

            config_file = os.environ.get("KUBECONFIG") or None
            self._kube = Kube.from_kubeconfig(self.runner, self.kube_context, config_file)
        return self._kube

    def api_targets(self) -> dict[str, list[Target]]:
        """The ``api`` path: the API server's /readyz from the host, probed all along, so the
        control plane's own outage shows next to the workload's."""
        kube = self.kube_client()
        # the API server names no serving container (no identity header)
        return {"api": [Target(f"{kube.host}/readyz", "ok", verify=kube.ca_file or True, identify="")]}


def refuse_unreachable_node(driver: str, system: str = sys.platform, release: str = "") -> None:
    """The ``node`` path goes from this host to the node's IP, which minikube's docker driver
    makes reachable only on a Linux host (its handbook: not on macOS, Windows or WSL)."""
    if driver != "docker":
        return
    release = release or platform.release()
    if system == "darwin" or system.startswith(("win", "cygwin")) or "microsoft" in release.lower():
        where = "WSL" if system.startswith("linux") else {"darwin": "macOS"}.get(system, "Windows")
        raise BadInput(
            f"with minikube's docker driver the node IP is not reachable from a {where} host; run "
            "lrmatrix on a Linux host or VM, or point --node ssh://... at a Linux Docker node"
        )
