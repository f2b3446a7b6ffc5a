"""A FAKE for tests: the minikube driver, the scenario's daemon.json merge and the kube steps
driven end to end on a recording runner, every command answered like a fresh machine with
minikube and every API call by the simulated cluster (contract.sim), which reacts to what is
done (docker stopped -> the node goes NotReady after the kubelet's delay), so the waits end
the way they would on a healthy machine. The tests read the recorded calls like a reviewer.

Versions here (the node's Docker, its kernel) are a fake machine's, not facts about any.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Sequence
from typing import Any

from contract import upstream
from contract.recording import RecordingRunner
from contract.sim import NO_ANSWER, NODE_IP, SimCluster
from lrmatrix.drivers.base import CmdResult
from lrmatrix.drivers.minikube.node import MinikubeNode, MinikubeSettings
from lrmatrix.errors import BadInput
from lrmatrix.evidence.probe import PathRecord, Target
from lrmatrix.kube.api import Kube
from lrmatrix.kube.runner import ApiReply, Call
from lrmatrix.matrix.cells import Cell
from lrmatrix.results import build
from lrmatrix.results.model import Result
from lrmatrix.run.clock import RunClock
from lrmatrix.run.context import Services
from lrmatrix.run.runner import Runner
from lrmatrix.run.sequence import PHASES

#: when the fake kubelet reports NotReady after the stop (a real node: a few s to ~100 s)
NOT_READY_AFTER_S = 75.0

DAEMON_JSON = "/etc/docker/daemon.json"
#: the label cri-dockerd puts on a pod's container: its name in the pod template
CONTAINER_NAME = "label=io.kubernetes.container.name="


def exec_start() -> str:
    """`systemctl show docker.service --property=ExecStart --value` for minikube's unit."""
    argv = " ".join(upstream.DOCKERD_ARGV)
    return (
        f"{{ path={upstream.DOCKERD_ARGV[0]} ; argv[]={argv} ; ignore_errors=no ; "
        "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
    )


class PlanResponder:
    """Answers a dry run's commands like a fresh machine with minikube, and its API calls from
    the simulated cluster; docker stop/start on the node switch the cluster's runtime."""

    def __init__(self, cell: Cell, sim: SimCluster, release: str, cgroup_driver: str | None = None) -> None:
        self.cell = cell
        self.sim = sim
        self.release = release or upstream.MINIKUBE
        self.docker_up = False
        driver = cgroup_driver or upstream.host_cgroup_driver()
        self.files = {DAEMON_JSON: upstream.minikube_daemon_json(driver).decode()}
        self.live_restore = False  # what the running dockerd applied (at its start or a reload)
        self.starts: list[float] = []  # docker.service starts since the last reset-failed
        #: what this fake node's binaries say (a test changes them to see they are read, not assumed)
        self.docker_version = "28.4.0"
        self.cri_dockerd_says = f"cri-dockerd {upstream.CRI_DOCKERD[1:]} ({upstream.CRI_DOCKERD_COMMIT})\n"

    def command(self, argv: Sequence[str], now: float) -> CmdResult:
        out, rc = self._answer(list(argv), now)
        return CmdResult(tuple(argv), rc, out if rc == 0 else "", "" if rc == 0 else out)

    def _answer(self, argv: list[str], now: float) -> tuple[str, int]:
        if argv[:2] == ["minikube", "version"]:
            return self.release, 0
        if argv[:2] == ["kubectl", "version"]:
            return json.dumps({"clientVersion": {"gitVersion": self.cell.kubernetes}}), 0
        if argv[:3] == ["minikube", "profile", "list"]:
            return json.dumps({"invalid": [], "valid": []}), 0
        if argv[:2] == ["minikube", "start"]:  # cruntime/docker.go: reset-failed, then restart
            self.starts = []
            self._docker_started(now)
            return "Done! kubectl is now configured", 0
        if argv[-1] == "ip":
            return NODE_IP, 0
        if "ssh" in argv:
            return self._node(argv[-1], now)
        return "", 0

    def _node(self, line: str, now: float) -> tuple[str, int]:
        words = shlex.split(line)
        if words[0] == "printf":  # printf '%s' TEXT | sudo tee PATH >/dev/null
            self.files[words[6]] = words[2]
            return "", 0
        if words[:2] == ["sudo", "systemctl"]:
            return self._systemctl(words[2], now)
        if words[:2] == ["sudo", "cat"]:
            text = self.files.get(words[-1])
            return (text, 0) if text is not None else (f"cat: {words[-1]}: No such file or directory", 1)
        if words[0] == "pidof":
            return ("1234", 0) if self.docker_up else ("", 1)
        if words[0] == "docker":
            if not self.docker_up:
                return "Cannot connect to the Docker daemon at unix:///var/run/docker.sock", 1
            return self._docker(words[1:]), 0
        if words[0] == "uname":
            return "6.1.0-40-amd64", 0
        if words == ["cri-dockerd", "--version"]:  # cmd/server.go: "%s %s\n", name, FullVersion()
            return self.cri_dockerd_says, 0
        return "", 0

    def _systemctl(self, verb: str, now: float) -> tuple[str, int]:
        if verb == "show":
            return exec_start(), 0
        if verb == "is-active":
            return ("active", 0) if self.docker_up else ("inactive", 3)
        if verb == "reset-failed":
            self.starts = []
            return "", 0
        if verb == "reload":  # moby applies live-restore on reload only when the file sets it
            if not self.docker_up:
                return "docker.service is not active, cannot reload.", 1
            value = self._config().get("live-restore")
            if value is not None:
                self.live_restore = self.sim.live_restore = bool(value)
            return "", 0
        if verb in ("start", "restart"):
            recent = [t for t in self.starts if now - t < upstream.START_LIMIT_INTERVAL_S]
            if len(recent) >= upstream.START_LIMIT_BURST:
                return upstream.START_LIMIT_HIT, 1
            if verb == "restart" and self.docker_up:
                self.docker_up = False
                self.sim.set_runtime(False, now)
            self._docker_started(now)
            return "", 0
        self.docker_up = False
        self.sim.set_runtime(False, now)
        return "", 0

    def _config(self) -> dict[str, Any]:
        return json.loads(self.files.get(DAEMON_JSON) or "{}")

    def _docker_started(self, now: float) -> None:
        self.starts.append(now)
        self.docker_up = True
        self.live_restore = self.sim.live_restore = bool(self._config().get("live-restore"))
        self.sim.set_runtime(True, now)

    def _docker(self, args: list[str]) -> str:
        if args[:1] in (["ps"], ["inspect"]):
            namespace = next(
                (a.split("=", 2)[2] for a in args if a.startswith("label=io.kubernetes.pod.namespace=")), ""
            )
            known = {c["Id"]: c for ns in self.sim.namespaces() for c in self.sim.containers(ns)}
            if args[0] == "ps":  # docker ANDs label filters: the namespace and the container name
                name = next((a.split("=", 2)[2] for a in args if a.startswith(CONTAINER_NAME)), None)
                found = self.sim.containers(namespace)
                return "\n".join(c["Id"] for c in found if name is None or c["Name"].split("_")[1] == name)
            return json.dumps([known[ref] for ref in args[1:] if ref in known])
        if args[:1] == ["info"]:  # what the running daemon applied, not the file now
            return json.dumps({"LiveRestoreEnabled": self.live_restore})
        server = {"Version": self.docker_version, "Components": [{"Name": "containerd", "Version": "1.7.27"}]}
        return json.dumps({"Server": server}) if "{{json .}}" in args else self.docker_version

    def request(self, method: str, path: str, body: Any, now: float) -> ApiReply:
        if "/exec?" in path:
            segs = path.split("?")[0].strip("/").split("/")
            ok, text = self.sim.exec_output(segs[3], segs[5], ["nginx", "-v"])
            return ApiReply(200 if ok else 500, text.encode())
        code, obj = self.sim.handle(method, path, json.loads(json.dumps(body, default=str)), now)
        if code == NO_ANSWER:  # what the client raises when the apiserver's connection drops
            from urllib3.exceptions import ProtocolError

            raise ProtocolError("Connection aborted.", ConnectionResetError("the API server is down"))
        if isinstance(obj, str):
            return ApiReply(code, obj.encode(), headers={"Content-Type": "text/plain"})
        return ApiReply(code, json.dumps(obj).encode())


class DryRunProbe:
    """The probe of a dry run: announced on the recording, never sent."""

    def __init__(
        self,
        runner: RecordingRunner,
        paths: dict[str, list[Target]],
        interval: float,
        timeout: float,
        netns: dict[str, str] | None = None,
    ) -> None:
        self.records: dict[str, PathRecord] = {}
        for path, targets in paths.items():
            for target in targets:
                runner.mark(
                    f"probe {path} path (background, every {interval:g}s until teardown): GET {target.url}"
                )

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def dry_run(cell: Cell, node: MinikubeNode, runner: RecordingRunner) -> Runner:
    """The runner itself on a recording runner: every transition runs as it would for real,
    but time is virtual, no HTTP request is sent (the probe and readiness waits are only
    announced) and nothing is written."""
    window = f" (window {cell.timings.outage_window_s:g}s from the stop)"
    services = Services(
        wait_paths=lambda targets, timeout, request_timeout, netns=None: 0.0,
        new_probe=functools.partial(DryRunProbe, runner),
        kube_client=lambda node: node.kube_client(),
        announce=lambda phase: runner.mark(phase + (window if phase == "outage" else "")),
    )
    clock = RunClock(now=runner.monotonic, sleep=lambda s: runner.sleep(s, "rest of the outage window"))
    return Runner(cell, node, services=services, clock=clock)


def run_cell(cell: Cell) -> list[Call]:
    """Drive one Kubernetes cell end to end with a recording runner; the calls, in order."""
    return drive(cell)[0].calls


def drive(cell: Cell) -> tuple[RecordingRunner, Runner]:
    """The recording runner and the scenario after one Kubernetes cell ran end to end."""
    if cell.driver != "minikube" or not cell.kubernetes:
        raise BadInput(f"the dry run covers Kubernetes cells; {cell.name} uses the {cell.driver} driver")
    settings = MinikubeSettings.load()
    sim = SimCluster(
        node_name=f"lrm-{cell.platform}",
        live_restore=False,
        not_ready_after=NOT_READY_AFTER_S,
        kubelet_version=cell.kubernetes,
    )
    runner = RecordingRunner(PlanResponder(cell, sim, settings.release))
    profile = f"lrm-{cell.platform}"
    node = MinikubeNode(cell, runner=runner, settings=settings, kube=Kube.offline(runner, profile))
    run = dry_run(cell, node, runner)
    runner.mark("sanity checks (nothing changes before they pass)")
    node.sanity_checks()
    runner.mark("setup: node, live-restore, workload")
    run.setup()
    run.advance(PHASES[-1])
    run.finish()
    return runner, run


def result_of(run: Runner) -> Result:
    """The result a dry run would have written."""
    return build.build(run.cell, run.node, run.clock, run.evidence, run.status)
