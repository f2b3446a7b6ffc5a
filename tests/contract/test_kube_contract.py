"""The kube helpers through the real kubernetes client against the fake API server.

Each behaviour is checked both ways (NotReady seen / not seen, sandbox failure / none,
restarts changed / unchanged), so a helper that always answered the same would fail.
"""

from __future__ import annotations

import dataclasses

import pytest

from contract.fake_apiserver import CONTEXT, FAST
from lrmatrix.errors import BadInput, NodeError
from lrmatrix.kube.api import Kube, guard_context
from lrmatrix.kube.node import NodeTimeline
from lrmatrix.kube.probe_pod import NAME, ProbePod
from lrmatrix.kube.runner import RealRunner
from lrmatrix.kube.steps import KubeCell
from lrmatrix.kube.workload import CHANGE, RESTARTED_AT, KubeWorkload, load_manifest
from lrmatrix.matrix import load_matrix

pytestmark = pytest.mark.contract
NS = "lrm-k8s128-liverestore"


def deployed(kube: Kube) -> KubeWorkload:
    workload = KubeWorkload(kube, NS, FAST)
    workload.deploy()
    workload.wait_ready(2)
    return workload


# --- context guard -------------------------------------------------------------------------
def test_named_context_is_used_not_the_current_one(kube, apiserver):
    assert NodeTimeline(kube, FAST.node_poll_s).discover() == CONTEXT
    assert apiserver.requests, "the helper did not reach the fake server of the named context"


def test_unknown_context_is_refused(kubeconfig):
    with pytest.raises(BadInput, match="not in the kubeconfig"):
        Kube.from_kubeconfig(RealRunner(), "lrm-k8s999", str(kubeconfig))


def test_other_named_context_is_refused_and_same_is_allowed():
    with pytest.raises(BadInput, match="refusing"):
        guard_context("production", CONTEXT)
    assert guard_context(CONTEXT, CONTEXT) == CONTEXT
    assert guard_context(None, CONTEXT) == CONTEXT


# --- workload ------------------------------------------------------------------------------
def test_deploy_gives_two_ready_pods_with_restart_counts(kube, apiserver):
    pods = deployed(kube).pods()
    assert len(pods) == 2 and all(p.ready and p.phase == "Running" for p in pods)
    assert [p.restarts for p in pods] == [0, 0]
    kinds = {k[0] for k in apiserver.sim.store if k[1] == NS}
    assert kinds == {"configmaps", "deployments", "services", "pods"}


def test_wait_ready_fails_when_a_pod_is_not_ready(kube, apiserver):
    workload = deployed(kube)
    pod = next(o for k, o in apiserver.sim.store.items() if k[0] == "pods")
    next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] = "False"
    with pytest.raises(NodeError, match="1/2 nginx-web pods Ready"):
        workload.wait_ready(0.2)


@pytest.mark.parametrize(("live_restore", "expected"), [(True, [0, 0]), (False, [1, 1])])
def test_restart_counts_follow_live_restore(kube, apiserver, live_restore, expected):
    apiserver.sim.live_restore = live_restore
    workload = deployed(kube)
    before = workload.pods()
    apiserver.set_runtime(False)
    apiserver.set_runtime(True)
    after = workload.wait_ready(2)
    assert [p.name for p in after] == [p.name for p in before]
    assert [p.restarts for p in after] == expected


def test_config_change_patches_restarts_and_waits_for_rollout(kube, apiserver):
    workload = deployed(kube)
    before = {p.name for p in workload.pods()}
    workload.apply_change()
    cm = apiserver.sim.store[("configmaps", NS, "nginx-web-config")]
    assert cm["data"] == load_manifest(CHANGE)[0]["data"]
    dep = apiserver.sim.store[("deployments", NS, "nginx-web")]
    assert RESTARTED_AT in dep["spec"]["template"]["metadata"]["annotations"]
    after = {p.name for p in workload.pods()}
    assert after and not after & before, "rollout restart did not replace the pods"


def test_wait_rollout_times_out_on_a_stalled_rollout(kube, apiserver):
    workload = deployed(kube)
    apiserver.sim.store[("deployments", NS, "nginx-web")]["status"]["updatedReplicas"] = 1
    with pytest.raises(NodeError, match="rollout of nginx-web did not finish"):
        workload.wait_rollout(0.2)


def test_remove_deletes_the_namespace_and_is_idempotent(kube, apiserver):
    workload = deployed(kube)
    workload.remove()
    assert not [k for k in apiserver.sim.store if NS in (k[1], k[2])]
    workload.remove()  # 404 is fine: already gone


# --- node Ready timeline -------------------------------------------------------------------
def test_timeline_records_not_ready_when_runtime_is_down(kube, apiserver):
    timeline = NodeTimeline(kube, FAST.node_poll_s)
    assert timeline.poll() == "True"
    apiserver.set_runtime(False)
    assert timeline.poll() == "True", "the kubelet takes ~30 s to notice"
    apiserver.advance(31)
    timeline.watch(kube.runner.monotonic() + 0.1)
    assert timeline.went_not_ready
    down = timeline.first("False")
    assert down is not None and down.reason == "KubeletNotReady" and "runtime is down" in down.message
    apiserver.set_runtime(True)
    assert timeline.wait_for("True", 1)
    assert [t.status for t in timeline.transitions] == ["True", "False", "True"]


def test_timeline_sees_no_not_ready_while_runtime_stays_up(kube, apiserver):
    timeline = NodeTimeline(kube, FAST.node_poll_s)
    apiserver.advance(120)
    timeline.watch(kube.runner.monotonic() + 0.15)
    assert timeline.samples > 1
    assert not timeline.went_not_ready
    assert [t.status for t in timeline.transitions] == ["True"]


def test_wait_for_returns_false_when_the_node_stays_not_ready(kube, apiserver):
    timeline = NodeTimeline(kube, FAST.node_poll_s)
    apiserver.set_runtime(False)
    apiserver.advance(31)
    assert timeline.wait_for("True", 0.1) is False


# --- the pod created during the outage -----------------------------------------------------
def test_probe_pod_stays_creating_with_sandbox_event_then_runs(kube, apiserver):
    deployed(kube)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    apiserver.set_runtime(False)
    probe.create()
    seen = probe.wait_sandbox_failure(kube.runner.monotonic() + 1)
    assert seen.stuck_creating
    assert seen.sandbox_events and "Cannot connect to the Docker daemon" in seen.sandbox_events[0]
    apiserver.set_runtime(True)
    running = probe.wait_running(1)
    assert running.pod.phase == "Running" and running.pod.ready
    assert probe.nginx_version().startswith("nginx version: nginx/")
    probe.delete()
    assert ("pods", NS, NAME) not in apiserver.sim.store
    probe.delete()


def test_probe_pod_runs_at_once_when_runtime_is_up(kube, apiserver):
    deployed(kube)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    probe.create()
    seen = probe.wait_sandbox_failure(kube.runner.monotonic() + 0.1)
    assert not seen.stuck_creating
    assert seen.sandbox_events == ()


def test_exec_in_a_pod_that_is_not_running_reports_it(kube, apiserver):
    deployed(kube)
    apiserver.set_runtime(False)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    probe.create()
    assert "nginx version" not in probe.nginx_version()


# --- the whole Kubernetes side of a cell ---------------------------------------------------
def test_kube_cell_sequence_against_the_fake(kube, apiserver):
    cell = load_matrix().cell("k8s128-noliverestore")
    cell = dataclasses.replace(
        cell, timings=dataclasses.replace(cell.timings, outage_window_s=0.3, ready_timeout_s=2)
    )
    apiserver.sim.live_restore = False
    apiserver.sim.not_ready_after = 0.1
    steps = KubeCell(cell, kube, FAST)
    steps.setup()
    steps.baseline()
    apiserver.set_runtime(False)
    steps.outage(kube.runner.monotonic())
    apiserver.set_runtime(True)
    steps.after()
    steps.change()
    steps.teardown()
    summary = steps.summary()
    assert [t["status"] for t in summary["node_ready_timeline"]] == ["True", "False", "True"]
    assert steps.outage_sighting is not None and steps.outage_sighting.stuck_creating
    assert [p.restarts for p in steps.after_pods] == [1, 1]
    assert steps.nginx_version.startswith("nginx version")
    assert not [k for k in apiserver.sim.store if NS in (k[1], k[2])]


# --- the fake's objects are real-shaped ----------------------------------------------------
def test_fake_objects_validate_against_the_kubernetes_schema(kube, apiserver):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployed(kube)
    apiserver.set_runtime(False)
    ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s).create()
    sim = apiserver.sim
    objects = [sim.node(), *sim.store.values()]
    objects.append(sim.handle("GET", f"/api/v1/namespaces/{NS}/pods", None, 0)[1])
    objects.append(sim.handle("GET", f"/api/v1/namespaces/{NS}/events", None, 0)[1])
    kinds = {o["kind"] for o in objects}
    assert {"Node", "Namespace", "Pod", "Event", "Deployment", "ConfigMap", "PodList", "EventList"} <= kinds
    for obj in objects:
        kubernetes_validate.validate(obj, "1.34", strict=True)
