"""The commands and API calls a Kubernetes cell makes, produced by the real minikube driver,
scenario and kube steps on a recording runner answered by a fake machine and cluster
(contract.dryrun). These tests read that sequence like a reviewer would."""

from __future__ import annotations

import json

import pytest

from contract import dryrun, upstream
from contract.sim import SimCluster
from lrmatrix.evidence.records import LiveRestoreApplied
from lrmatrix.kube.runner import Call
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.results import files
from lrmatrix.run import live_restore

K8S_CELLS = [c for c in load_matrix().cells if c.driver == "minikube"]


def calls_of(name: str) -> list[Call]:
    return dryrun.run_cell(load_matrix().cell(name))


def index(calls: list[Call], needle: str, start: int = 0) -> int:
    for i, call in enumerate(calls[start:], start):
        if needle in call.display:
            return i
    raise AssertionError(f"{needle!r} is not in the plan after step {start}")


def test_every_kubernetes_cell_is_in_the_matrix():
    assert len(K8S_CELLS) == 14
    assert {c.platform for c in K8S_CELLS} == {f"k8s1{n}" for n in range(28, 35)}


@pytest.mark.parametrize("cell", K8S_CELLS, ids=lambda c: c.name)
def test_profile_and_pinned_version_per_cell(cell):
    calls = dryrun.run_cell(cell)
    start = calls[index(calls, "minikube start")]
    assert start.argv[:4] == ("minikube", "start", "-p", f"lrm-{cell.platform}")
    assert f"--kubernetes-version={cell.kubernetes}" in start.argv
    assert "--container-runtime=docker" in start.argv
    ssh = [c for c in calls if c.kind == "run" and "ssh" in c.argv]
    assert ssh and all(c.argv[:3] == ("minikube", "-p", f"lrm-{cell.platform}") for c in ssh)
    assert all(f"lrm-{cell.name}" in c.text for c in calls if "/namespaces/lrm-" in c.text)


def test_sanity_checks_come_before_any_change():
    calls = calls_of("k8s128-liverestore")
    first_change = index(calls, "minikube start")
    checks = " ".join(c.display for c in calls[:first_change])
    assert "minikube version" in checks and "kubectl version" in checks and "profile list" in checks


def test_disrupt_stops_the_socket_with_the_service_and_recover_starts_the_service():
    calls = calls_of("k8s128-liverestore")
    disrupt = next(i for i, c in enumerate(calls) if c.text == "disrupt")
    stop = index(calls, "systemctl stop", disrupt)
    assert calls[stop].argv[-1] == "sudo systemctl stop docker.socket docker.service"
    start = index(calls, "systemctl start", stop)
    assert calls[start].argv[-1] == "sudo systemctl start docker.service"
    stops = [c for c in calls if "systemctl stop" in c.display]
    assert all("docker.socket" in c.display for c in stops), "a stop left docker.socket listening"


def stop_and_start(calls: list[Call]) -> tuple[int, int]:
    disrupt = next(i for i, c in enumerate(calls) if c.text == "disrupt")
    stop = index(calls, "systemctl stop", disrupt)
    return stop, index(calls, "systemctl start", stop)


def test_no_api_call_while_the_api_server_is_down_without_live_restore():
    """kube-apiserver is a static pod, i.e. a Docker container: without live-restore it dies
    with dockerd, so nothing may use the API between the stop and the control plane's return."""
    cell = load_matrix().cell("k8s130-noliverestore")
    calls = dryrun.run_cell(cell)
    stop, start = stop_and_start(calls)
    assert calls[start].t - calls[stop].t >= cell.timings.outage_window_s
    assert [c.text for c in calls[stop:start] if c.kind == "api"] == []
    assert any("no API calls" in c.text for c in calls[stop:start] if c.kind == "mark")


def test_with_live_restore_the_outage_is_watched_through_the_api():
    cell = load_matrix().cell("k8s130-liverestore")
    calls = dryrun.run_cell(cell)
    stop, start = stop_and_start(calls)
    between = calls[stop:start]
    node_polls = [c for c in between if c.text.startswith("GET /api/v1/nodes/")]
    assert len(node_polls) > 1, "the node's Ready condition is not watched during the outage"
    assert any(c.text == "POST /api/v1/namespaces/lrm-k8s130-liverestore/pods" for c in between)
    assert any("events?fieldSelector=involvedObject.name" in c.text for c in between)


@pytest.mark.parametrize("name", ["k8s133-liverestore", "k8s133-noliverestore"])
def test_every_docker_start_waits_for_the_control_plane_before_other_api_calls(name):
    calls = calls_of(name)
    starts = [i for i, c in enumerate(calls) if c.display.endswith("systemctl start docker.service")]
    assert starts
    for i in starts:
        api = [c.text for c in calls[i:] if c.kind == "api"]
        assert api[0] == "GET /readyz", api[:3]
        pods = "GET /api/v1/namespaces/kube-system/pods?labelSelector=tier%3Dcontrol-plane"
        rest = [a for a in api if a != "GET /readyz"]
        assert rest[:2] == ["GET /api/v1/nodes", pods], rest[:3]


def test_the_api_path_probes_readyz_all_along():
    calls = calls_of("k8s128-noliverestore")
    probes = [c.text for c in calls if c.kind == "mark" and c.text.startswith("probe ")]
    assert any(p.startswith("probe api path") and p.endswith("/readyz") for p in probes), probes
    assert any(p.startswith("probe node path") for p in probes)


def test_daemon_json_is_merged_and_live_restore_turned_on_by_a_reload_not_a_restart():
    for name, value in (("k8s131-liverestore", True), ("k8s131-noliverestore", False)):
        calls = calls_of(name)
        start = index(calls, "minikube start")
        read = index(calls, "sudo cat -- /etc/docker/daemon.json", start)
        write = index(calls, "sudo tee /etc/docker/daemon.json", read)
        effective = index(calls, "docker info", write)
        written = json.loads(calls[write].argv[-1].split("'")[3])
        assert written["live-restore"] is value
        minikube_wrote = json.loads(upstream.minikube_daemon_json(upstream.host_cgroup_driver()))
        assert {k: v for k, v in written.items() if k != "live-restore"} == minikube_wrote
        baseline = next(i for i, c in enumerate(calls) if c.text == "baseline")
        setup = [c.display for c in calls[effective:baseline]]
        assert not [c for c in setup if "systemctl stop" in c or "systemctl start" in c], name
        reloads = [
            i for i, c in enumerate(calls[effective:baseline], effective) if "systemctl reload" in c.display
        ]
        # minikube's dockerd runs without live-restore: only turning it on needs a reload
        assert len(reloads) == (1 if value else 0), name
        if value:
            index(calls, "docker info", reloads[0])


def test_minikubes_own_daemon_json_and_unit_are_modelled_not_invented():
    """Go's json.Marshal (compact, no newline); systemd only on a cgroup-v2 host; ExecStart
    with -H fd:// --containerd=... as pkg/provision/ubuntu.go writes it."""
    cell = load_matrix().cell("k8s128-liverestore")
    for driver in ("systemd", "cgroupfs"):
        responder = dryrun.PlanResponder(cell, SimCluster(), "", cgroup_driver=driver)
        text = responder.files["/etc/docker/daemon.json"]
        assert text == json.dumps(json.loads(text), separators=(",", ":"))
        assert json.loads(text)["exec-opts"] == [f"native.cgroupdriver={driver}"]
    node, _ = node_with()
    argv = node.dockerd_argv()
    assert argv[argv.index("-H", 2) + 1] == "fd://" and "--containerd=/run/containerd/containerd.sock" in argv


def test_dockerd_flags_are_checked_and_the_start_limit_reset_before_each_start():
    calls = calls_of("k8s128-liverestore")
    for i, call in enumerate(calls):
        if call.display.endswith("systemctl start docker.service"):
            assert calls[i - 1].display.endswith("systemctl reset-failed docker.service")
            assert "ExecStart" in calls[i - 2].display


def test_kubernetes_checks_follow_the_phases():
    calls = calls_of("k8s129-liverestore")
    marks = [c.text.split(" ")[0] for c in calls if c.kind == "mark"]
    order = ["sanity", "setup:", "baseline", "disrupt", "outage", "recover", "after", "change", "teardown"]
    assert [m for m in marks if m in order] == order
    after = next(i for i, c in enumerate(calls) if c.text == "after")
    exec_at = index(calls, "/pods/lrm-outage-probe/exec?command=nginx&command=-v", after)
    assert index(calls, "DELETE /api/v1/namespaces/lrm-k8s129-liverestore/pods/lrm-outage-probe", exec_at)
    change = index(calls, "PATCH /api/v1/namespaces/lrm-k8s129-liverestore/configmaps/nginx-web-config")
    restart = index(
        calls, "PATCH /apis/apps/v1/namespaces/lrm-k8s129-liverestore/deployments/nginx-web", change
    )
    index(calls, "GET /apis/apps/v1/namespaces/lrm-k8s129-liverestore/deployments/nginx-web", restart)


def test_teardown_restores_daemon_json_then_keeps_or_deletes_the_profile():
    first = calls_of("k8s128-liverestore")
    teardown = next(i for i, c in enumerate(first) if c.text == "teardown")
    restore = index(first, "sudo tee /etc/docker/daemon.json", teardown)
    assert "live-restore" not in first[restore].argv[-1]
    # the kept profile's dockerd is switched back by a reload, never a restart with pods running
    tail = [c.display for c in first[restore:]]
    assert not [c for c in tail if "systemctl restart" in c or "systemctl stop" in c], tail
    reload = index(first, "systemctl reload docker.service", restore)
    assert '"live-restore": false' in first[reload - 1].argv[-1]
    assert first[reload + 1].argv[-1] == first[restore].argv[-1], "the original bytes were not put back"
    assert not [c for c in first if "minikube delete" in c.display], "the first cell of a version deleted it"
    last = calls_of("k8s128-noliverestore")
    # the delete, then only the teardown's residue check that the profile is really gone
    tail = [c.display for c in last[-2:]]
    assert tail == ["minikube delete -p lrm-k8s128", "minikube profile list -o json"]


# --- the minikube driver's own checks, through the same recording runner -------------------
from contract.recording import RecordingRunner  # noqa: E402
from lrmatrix.drivers import NodeSpec  # noqa: E402
from lrmatrix.drivers.minikube.node import MinikubeNode, MinikubeSettings  # noqa: E402
from lrmatrix.errors import BadInput, EnvironmentProblem, NodeError  # noqa: E402
from lrmatrix.kube.api import Kube  # noqa: E402


class Scripted(dryrun.PlanResponder):
    """The plan's machine, with some answers replaced: {command prefix: (output, rc)}."""

    def __init__(self, cell, answers):
        super().__init__(cell, SimCluster(), "v1.38.1")
        self.answers = answers

    def command(self, argv, now):
        text = " ".join(argv)
        for prefix, (out, rc) in self.answers.items():
            if text.startswith(prefix):
                return dryrun.CmdResult(tuple(argv), rc, out if rc == 0 else "", "" if rc == 0 else out)
        return super().command(argv, now)


def node_with(answers=None, name="k8s128-liverestore", spec=None, settings=None):
    cell = load_matrix().cell(name)
    runner = RecordingRunner(Scripted(cell, answers or {}))
    settings = settings or MinikubeSettings(release="v1.38.1")
    kube = Kube.offline(runner, "lrm-k8s128")
    return MinikubeNode(cell, spec, runner=runner, settings=settings, kube=kube), runner


def profile_list(status="Running", version="v1.28.15", invalid=False):
    entry = {
        "Name": "lrm-k8s128",
        "Status": status,
        "Config": {"KubernetesConfig": {"KubernetesVersion": version}},
    }
    return json.dumps({"invalid": [entry] if invalid else [], "valid": [] if invalid else [entry]}), 0


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"minikube version": ("minikube: command not found", 127)}, "minikube is not installed"),
        ({"kubectl version": ("kubectl: command not found", 127)}, "kubectl is not installed"),
        ({"minikube profile list": profile_list("Error")}, "in state Error; delete it with `minikube delete"),
        ({"minikube profile list": profile_list(invalid=True)}, "in state invalid"),
        (
            {"minikube profile list": profile_list(version="v1.28.3")},
            "runs Kubernetes v1.28.3, the cell pins",
        ),
    ],
)
def test_sanity_checks_fail_with_one_line_before_any_change(answers, message):
    node, runner = node_with(answers)
    with pytest.raises(EnvironmentProblem, match=message) as err:
        node.sanity_checks()
    assert "\n" not in str(err.value)
    assert not [c for c in runner.calls if "start" in c.argv or "ssh" in c.argv], "something was changed"


def test_sanity_checks_pass_on_a_healthy_existing_profile_and_record_versions():
    node, _ = node_with({"minikube profile list": profile_list(), "minikube version": ("v1.36.0", 0)})
    node.sanity_checks()
    assert node.tools.minikube == "v1.36.0" and node.tools.kubectl == "v1.28.15"
    assert node.tools.notes and "chosen for v1.38.1" in node.tools.notes[0]


def test_a_different_kube_context_is_refused_before_any_command():
    spec = NodeSpec.parse("minikube://", {"kube_context": "production"})
    node, runner = node_with(spec=spec)
    with pytest.raises(BadInput, match="refusing"):
        node.sanity_checks()
    assert [c for c in runner.calls if c.kind == "run"] == []


def test_a_conflicting_live_restore_dockerd_flag_is_detected():
    unit = dryrun.exec_start().replace("--label provider=docker", "--label provider=docker --live-restore")
    node, _ = node_with({"minikube -p lrm-k8s128 ssh -- sudo systemctl show": (unit, 0)})
    with pytest.raises(BadInput, match="--live-restore"):
        node.create()
    with pytest.raises(BadInput, match="--live-restore"):
        node.start_daemon()


def test_a_live_restore_docker_opt_is_refused_before_starting():
    node, runner = node_with(settings=MinikubeSettings(start_flags=("--docker-opt=live-restore",)))
    with pytest.raises(BadInput, match="docker-opt"):
        node.create()
    assert not [c for c in runner.calls if "start" in c.argv]


def test_files_on_the_node_round_trip_and_absent_is_none():
    node, _ = node_with()
    assert node.read_file("/etc/lrmatrix-none") is None
    node.write_file("/etc/docker/daemon.json", b'{"a": "it\'s"}\n')
    assert node.read_file("/etc/docker/daemon.json") == b'{"a": "it\'s"}\n'


def test_start_flags_driver_and_profile_are_configurable(monkeypatch):
    monkeypatch.setenv("LRMATRIX_MINIKUBE_DRIVER", "kvm2")
    monkeypatch.setenv("LRMATRIX_MINIKUBE_FLAGS", "--cpus=4 --memory=4g")
    cell = load_matrix().cell("k8s129-noliverestore")
    node = MinikubeNode(
        cell, NodeSpec.parse("minikube://staging-like"), runner=RecordingRunner(Scripted(cell, {}))
    )
    argv = node.start_argv()
    assert argv[:4] == ["minikube", "start", "-p", "staging-like"]
    assert argv[-3:] == ["--driver=kvm2", "--cpus=4", "--memory=4g"]


def test_keep_keeps_the_profile_of_the_last_cell(monkeypatch):
    node, _ = node_with(name="k8s128-noliverestore")
    assert not node.keeps_profile()
    monkeypatch.setenv("LRMATRIX_KEEP", "1")
    node, runner = node_with(name="k8s128-noliverestore", settings=MinikubeSettings.load())
    node.destroy()
    node.destroy()  # safe twice
    texts = [c.display for c in runner.calls]
    assert not [t for t in texts if "restart" in t or "delete" in t], texts


def test_only_a_systemd_stop_is_supported():
    node, _ = node_with()
    with pytest.raises(BadInput, match="SIGTERM"):
        node.stop_daemon("SIGKILL")


def test_engine_cells_cannot_use_the_minikube_driver():
    with pytest.raises(BadInput, match="no Kubernetes version"):
        MinikubeNode(load_matrix().cell("engine-liverestore"))


def test_command_line_options_reach_the_minikube_driver_without_node():
    from lrmatrix.drivers import make_node

    node = make_node(load_matrix().cell("k8s128-liverestore"), None, {"keep": "true", "kube_context": ""})
    assert node.settings.keep and node.profile == "lrm-k8s128"


def test_docker_service_start_limit_is_reset_before_each_start():
    """minikube's unit: StartLimitBurst=3 in 60 s. Configuration, recovery and teardown
    starts add up; without reset-failed the fourth start within a minute fails."""
    node, runner = node_with()
    node.runner.run(["minikube", "start", "-p", "lrm-k8s128"])
    for _ in range(upstream.START_LIMIT_BURST + 2):
        node.stop_daemon("SIGTERM")
        node.start_daemon()
    starts = [c for c in runner.calls if c.display.endswith("systemctl start docker.service")]
    assert len(starts) == upstream.START_LIMIT_BURST + 2


def test_the_modelled_start_limit_does_refuse_a_fourth_start():
    node, _ = node_with()
    node.runner.run(["minikube", "start", "-p", "lrm-k8s128"])
    results = [node.sudo("systemctl", "restart", "docker.service") for _ in range(3)]
    assert [r.ok for r in results] == [True, True, False]
    assert "restarted too often" in results[-1].one_line()


def test_a_restart_is_the_fallback_when_a_reload_changes_nothing():
    """A unit whose reload does not reach dockerd: the scenario restarts, with the start
    limit reset and a wait for the control plane before the workload is deployed."""
    cell = load_matrix().cell("k8s128-liverestore")
    responder = Scripted(cell, {"minikube -p lrm-k8s128 ssh -- sudo systemctl reload": ("", 0)})
    runner = RecordingRunner(responder)
    node = MinikubeNode(
        cell, runner=runner, settings=MinikubeSettings(), kube=Kube.offline(runner, "lrm-k8s128")
    )
    run = dryrun.dry_run(cell, node, runner)
    node.create()
    run.keep(*live_restore.apply(run.ctx))
    assert run.evidence.require(LiveRestoreApplied).effective is True
    assert [e.name for e in run.events()] == ["daemon restarted"]
    texts = [c.display for c in runner.calls]
    start = next(i for i, t in enumerate(texts) if t.endswith("systemctl start docker.service"))
    assert texts[start - 1].endswith("reset-failed docker.service")
    assert any(t == "GET /readyz" for t in texts[start:])


def test_a_kept_profile_whose_reload_fails_is_reported_not_restarted():
    node, runner = node_with(
        {"minikube -p lrm-k8s128 ssh -- sudo systemctl reload": ("Failed to reload docker.service", 1)}
    )
    node.runner.run(["minikube", "start", "-p", "lrm-k8s128"])
    node.settings = MinikubeSettings(keep=True)
    responder = runner.responder
    responder.live_restore = True  # the liverestore cell before left it on
    with pytest.raises(NodeError, match="reload"):
        node.destroy()
    assert node.read_file("/etc/docker/daemon.json") == responder.files["/etc/docker/daemon.json"].encode()
    assert "live-restore" not in responder.files["/etc/docker/daemon.json"], "the original was not put back"
    assert not [c for c in runner.calls if "restart" in c.display or "systemctl stop" in c.display]
    assert "still runs with live-restore=true" in node.residue()[0]


@pytest.mark.parametrize(
    ("driver", "system", "release", "refused"),
    [
        ("docker", "darwin", "23.1.0", "macOS"),
        ("docker", "win32", "10", "Windows"),
        ("docker", "linux", "5.15.153.1-microsoft-standard-WSL2", "WSL"),
        ("docker", "linux", "6.1.0-40-amd64", None),
        ("kvm2", "linux", "6.1.0-40-amd64", None),
    ],
)
def test_the_node_path_needs_a_linux_host_with_the_docker_driver(driver, system, release, refused):
    from lrmatrix.drivers.minikube.node import refuse_unreachable_node

    if refused is None:
        refuse_unreachable_node(driver, system, release)
        return
    with pytest.raises(BadInput, match=f"from a {refused} host") as err:
        refuse_unreachable_node(driver, system, release)
    assert err.value.exit_code == 2 and "\n" not in str(err.value) and "Linux" in str(err.value)


def test_sanity_checks_refuse_a_wsl_host_before_any_command(monkeypatch):
    monkeypatch.setattr("platform.release", lambda: "5.15.153.1-microsoft-standard-WSL2")
    node, runner = node_with()
    with pytest.raises(BadInput, match="WSL"):
        node.sanity_checks()
    assert [c for c in runner.calls if c.kind == "run"] == []


def test_kubernetes_findings_are_the_results_findings_too():
    """The report and compare read ``findings``: what the Kubernetes steps found (NotReady,
    the outage pod, restarted pods) must be there, not only under ``kubernetes``."""
    _, run = dryrun.drive(load_matrix().cell("k8s130-noliverestore"))
    result = dryrun.result_of(run)
    assert result.kubernetes is not None
    kube = result.kubernetes.findings
    assert kube
    assert set(kube) <= set(result.findings)


def test_a_kubernetes_result_is_written_and_read_back_as_the_same_model(tmp_path):
    """The writer's model and the reader's are one: a Kubernetes cell's result (its cluster
    side, pods, the outage pod) survives the file unchanged."""
    _, run = dryrun.drive(load_matrix().cell("k8s128-liverestore"))
    result = dryrun.result_of(run)
    assert result.kubernetes is not None and result.kubernetes.outage_pod
    path = files.write(result, tmp_path)
    assert json.loads(path.read_text())["schema"] == "lrmatrix.result/2"
    assert files.load(path) == result


# --- the node's runtime: read on the node, never taken from the pins ------------------------
def test_docker_and_cri_dockerd_versions_are_read_on_the_node():
    """kicbase installs whatever docker-ce was current when it was built: the versions a cell
    records are what the node's binaries say, through minikube ssh, whatever they say."""
    for docker, says, recorded in (
        (
            "28.4.0",
            f"cri-dockerd 0.4.1 ({upstream.CRI_DOCKERD_COMMIT})\n",
            f"0.4.1 ({upstream.CRI_DOCKERD_COMMIT})",
        ),
        ("29.2.1", "cri-dockerd 0.4.2-pre (1a2b3c4)\n", "0.4.2-pre (1a2b3c4)"),
    ):
        node, runner = node_with()
        runner.responder.docker_up = True
        runner.responder.docker_version, runner.responder.cri_dockerd_says = docker, says
        found = node.versions()
        assert (found["docker"], found["cri-dockerd"]) == (docker, recorded)
        asked = [list(c.argv) for c in runner.calls if c.kind == "run"]
        assert ["minikube", "-p", "lrm-k8s128", "ssh", "--", "cri-dockerd --version"] in asked


def test_an_unreadable_cri_dockerd_version_says_so_instead_of_guessing():
    node, runner = node_with(
        {"minikube -p lrm-k8s128 ssh -- cri-dockerd --version": ("cri-dockerd: not found", 127)}
    )
    runner.responder.docker_up = True
    assert node.versions()["cri-dockerd"] == "unknown (cri-dockerd --version: cri-dockerd: not found)"


def test_a_cells_result_carries_the_runtime_the_node_reported():
    _, run = dryrun.drive(load_matrix().cell("k8s131-liverestore"))
    versions = dryrun.result_of(run).versions
    assert versions["cri-dockerd"] == f"0.4.1 ({upstream.CRI_DOCKERD_COMMIT})"
    assert versions["docker"] == "28.4.0" and versions["kubernetes"] == "v1.31.13"
