"""``lrmatrix plan CELL --commands`` for Kubernetes cells: every command line and API call the
plan shows is one the real minikube driver and kube steps make, read from a dry run of the
same cell on the recording runner (contract.dryrun); a command changed in the driver changes
the plan with it."""

from __future__ import annotations

import functools

import pytest

from contract import dryrun
from lrmatrix.drivers.minikube import node as minikube_node
from lrmatrix.drivers.minikube.node import MinikubeNode
from lrmatrix.kube import capture
from lrmatrix.kube.runner import Call
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.run import plan

K8S_CELLS = [c for c in load_matrix().cells if c.driver == "minikube"]


def plan_text(name: str) -> str:
    cell = load_matrix().cell(name)
    return plan.render(cell, plan.plan_cell(cell, MinikubeNode(cell)))


@functools.cache
def plan_lines(name: str) -> tuple[str, ...]:
    """``plan_text`` of the driver as it is (no test changes it before ``shown`` reads it): a
    plan parses the matrix and the manifests ~20 times each (0.7 s), once per cell here."""
    return tuple(plan_text(name).splitlines())


def shown(name: str, mark: str, conditional: bool = False) -> list[str]:
    """The plan's exact lines of one kind ('$' commands, '>' API calls), placeholders left out;
    those after a step's "# if ..." note run only when it holds (``conditional``)."""
    found, after_if = [], False
    for line in plan_lines(name):
        if not line.startswith("      "):
            after_if = False  # a new step
        elif line.startswith("      # if "):
            after_if = True
        elif line.startswith(f"      {mark} ") and "<" not in line and after_if is conditional:
            found.append(line.strip()[2:])
    return found


@functools.cache
def calls_of(name: str) -> tuple[Call, ...]:
    return tuple(dryrun.run_cell(load_matrix().cell(name)))


def executed(calls: tuple[Call, ...] | list[Call], kind: str) -> set[str]:
    return {c.display for c in calls if c.kind == kind}


def test_the_done_when_of_issue_20():
    text = plan_text("k8s128-liverestore")
    start = next(line for line in text.splitlines() if "$ minikube start" in line)
    assert "--kubernetes-version=v1.28.15" in start and "--container-runtime=docker" in start
    assert "$ minikube -p lrm-k8s128 ssh -- sudo systemctl stop docker.socket docker.service" in text
    assert "$ minikube -p lrm-k8s128 ssh -- sudo systemctl reload docker.service" in text
    assert "NodePort 30081" in text and "http://<node ip>:30081/" in text
    assert "POST /api/v1/namespaces/lrm-k8s128-liverestore/services" in text


@pytest.mark.parametrize("name", ["k8s128-liverestore", "k8s134-noliverestore"])
def test_the_control_plane_wait_follows_every_docker_start(name):
    lines = plan_text(name).splitlines()
    starts = [i for i, line in enumerate(lines) if line.endswith("sudo systemctl start docker.service")]
    assert len(starts) == 2, "the live-restore restart fallback and the recover start"
    for i in starts:
        api = lines[i + 1]
        wait = lines[i + 2]
        assert api.startswith("      ~ until ") and "docker version" in api
        assert wait.startswith("      ~ until the control plane is back: `GET /readyz` answers ok")
        assert "GET /api/v1/namespaces/kube-system/pods?labelSelector=tier%3Dcontrol-plane" in wait
        bound = load_matrix().cell(name).timings.recover_timeout_s
        assert wait.endswith(f"up to {bound:g} s")


@pytest.mark.parametrize("cell", K8S_CELLS, ids=lambda c: c.name)
def test_every_line_the_plan_shows_is_one_the_driver_runs(cell):
    """The dry run drives the real driver and kube steps; each command line and API call the
    plan shows (without a placeholder) is among what it made, verbatim."""
    calls = calls_of(cell.name)
    commands, api = shown(cell.name, "$"), shown(cell.name, ">")
    assert commands and api
    assert set(commands) - executed(calls, "run") == set()
    assert set(api) - executed(calls, "api") == set()
    # a line that runs only if something holds (a reload when the setting differs) is one the
    # driver runs in the platform's other cell, where it does
    both = [*calls, *calls_of(f"{cell.platform}-liverestore"), *calls_of(f"{cell.platform}-noliverestore")]
    assert set(shown(cell.name, "$", conditional=True)) - executed(both, "run") <= {
        line
        for line in shown(cell.name, "$", conditional=True)
        if "systemctl stop" in line or "start" in line
    }, "only the restart fallback, which a reload that works never needs, may be unseen"


def test_what_the_driver_runs_in_the_main_steps_is_in_the_plan():
    """The other way: the stop, start, reload and start of the profile that a run makes are
    all shown."""
    calls = dryrun.run_cell(load_matrix().cell("k8s130-liverestore"))
    text = plan_text("k8s130-liverestore")
    for needle in (
        "minikube start",
        "systemctl stop",
        "systemctl start",
        "systemctl reset-failed",
        "systemctl reload",
    ):
        made = {c.display for c in calls if needle in c.display}
        assert made and all(m in text for m in made), needle
    deploy = {c.display for c in calls if c.kind == "api" and c.display.startswith("POST")}
    assert all(d in text for d in deploy), deploy - set(text.splitlines())


def test_a_command_changed_in_the_driver_changes_the_plan(monkeypatch):
    """One builder serves both: the stop the driver runs and the one the plan shows change
    together (the recording sees the new line, the plan prints it)."""
    new = ["sudo", "systemctl", "kill", "--signal=SIGTERM", "docker.service"]
    monkeypatch.setattr(minikube_node, "STOP", new)
    text = plan_text("k8s128-liverestore")
    assert "ssh -- sudo systemctl kill --signal=SIGTERM docker.service" in text
    assert "systemctl stop docker.socket" not in text
    calls = dryrun.run_cell(load_matrix().cell("k8s128-liverestore"))
    assert any(c.display.endswith("sudo systemctl kill --signal=SIGTERM docker.service") for c in calls)


def test_a_start_flag_reaches_the_plan_and_the_run_alike(monkeypatch):
    monkeypatch.setenv("LRMATRIX_MINIKUBE_FLAGS", "--cpus=4")
    start = next(line for line in plan_text("k8s131-liverestore").splitlines() if "minikube start" in line)
    assert start.endswith("--driver=docker --cpus=4")
    calls = dryrun.run_cell(load_matrix().cell("k8s131-liverestore"))
    assert start.strip()[2:] in executed(calls, "run")


def test_without_live_restore_the_outage_makes_no_api_call():
    text = plan_text("k8s128-noliverestore")
    outage = text.split("== outage")[1].split("== recover")[0]
    assert " > " not in outage and "no API call" in outage


def test_the_capture_sends_nothing_and_stops_at_a_read():
    """Writes are acknowledged so a step goes on; the first read ends it; no command runs."""
    runner = capture.CaptureRunner()
    with pytest.raises(capture.Unsent):
        runner.run(["minikube", "delete"])
    with pytest.raises(capture.Unsent):
        runner.api("GET", "/api/v1/nodes", None, lambda: pytest.fail("sent"))
    assert runner.api("DELETE", "/api/v1/namespaces/x", None, lambda: pytest.fail("sent")).status == 204
    calls = capture.api_calls(
        lambda kube: (kube.core.delete_namespace("a"), kube.core.list_node(), kube.readyz())
    )
    assert calls == ["DELETE /api/v1/namespaces/a", "GET /api/v1/nodes"]


@pytest.mark.parametrize("cell", load_matrix().cells, ids=lambda c: c.name)
def test_every_cell_has_commands_under_its_node_steps(cell, capsys):
    """Each driver answers for every step that asks the node: create, live-restore, the
    disruption (unless the upgrade command is it), restore, destroy."""
    from lrmatrix.cli import main as cli_main

    assert cli_main.main(["plan", cell.name, "--commands"]) == 0
    steps: dict[str, list[str]] = {}
    current: list[str] = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith(("  - ", "  ~ ")):
            current = steps.setdefault(line[4:].split(":")[0], [])
        elif line.startswith("      "):
            current.append(line.strip())
    for action in ("node", "live-restore", "restore", "destroy"):
        assert steps[action], f"{action} shows no command"
    if not cell.upgrade_command:
        stop = steps.get("stop") or steps["kill"]
        assert any(line.startswith(("$ ", "! ")) for line in stop), stop
