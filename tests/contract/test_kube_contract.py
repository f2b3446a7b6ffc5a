"""The kube helpers through the real kubernetes client against the fake API server.

The fake follows lrmatrix.kube.upstream (the API down during a no-live-restore outage,
NotReady delayed by cri-dockerd's cache or never within the window, no event once the
kubelet stops syncing, the not-ready taints and an unscheduled pod once the node is NotReady,
the real message forms). Every test asserts what lrmatrix does with
that (which calls it makes, what it records, what it concludes), each both ways, never a
value the fake produced and lrmatrix merely passed through.
"""

from __future__ import annotations

import dataclasses

import pytest

from contract import upstream
from contract.fake_apiserver import CONTEXT, FAST, FakeApiServer
from lrmatrix.errors import BadInput, NodeError
from lrmatrix.kube.api import Kube, guard_context
from lrmatrix.kube.control_plane import wait_control_plane
from lrmatrix.kube.node import NodeTimeline
from lrmatrix.kube.probe_pod import NAME, ProbePod, Sighting
from lrmatrix.kube.runner import RealRunner
from lrmatrix.kube.steps import KubeCell, outage_pod_finding
from lrmatrix.kube.workload import CHANGE, RESTARTED_AT, KubeWorkload, PodState, load_manifest
from lrmatrix.matrix.cells import load_matrix
from prereqs import import_module

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
def test_deploy_creates_every_manifest_document_in_the_cells_namespace(kube, apiserver):
    deployed(kube)
    made = {k[0] for k in apiserver.sim.store if k[1] == NS}
    wanted = {f"{d['kind'].lower()}s" for d in load_manifest("nginx-web.yaml")}
    assert made - {"pods"} == wanted and ("namespaces", "", NS) in apiserver.sim.store


def test_pods_leaves_out_pods_being_deleted(kube, apiserver):
    workload = deployed(kube)
    assert len(workload.pods()) == 2
    pod = next(o for k, o in apiserver.sim.store.items() if k[0] == "pods" and k[1] == NS)
    pod["metadata"]["deletionTimestamp"] = apiserver.sim.stamp()
    assert [p.name for p in workload.pods()] != [] and pod["metadata"]["name"] not in {
        p.name for p in workload.pods()
    }


def test_wait_ready_fails_when_a_pod_is_not_ready(kube, apiserver):
    workload = deployed(kube)
    pod = next(o for k, o in apiserver.sim.store.items() if k[0] == "pods" and k[1] == NS)
    next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] = "False"
    with pytest.raises(NodeError, match="1/2 nginx-web pods Ready"):
        workload.wait_ready(0.2)


@pytest.mark.parametrize("live_restore", [True, False])
def test_restart_counts_and_pod_ips_that_changed_are_reported(kube, apiserver, live_restore):
    """Without live-restore the kubelet makes new sandboxes (restartCount + 1, maybe a new IP
    from IPAM): lrmatrix reports each change it saw, and none when nothing changed."""
    apiserver.sim.live_restore = live_restore
    steps = kube_cell(kube, "k8s128-liverestore")
    steps.setup()
    steps.baseline()
    apiserver.set_runtime(False)
    apiserver.set_runtime(True)
    apiserver.advance(apiserver.sim.control_plane_after + 10)
    steps.after_pods = steps.workload.wait_ready(2)
    changed = [f for f in steps.findings() if f.startswith("pod ")]
    if live_restore:
        assert changed == []
    else:
        assert len(changed) == 2 and all("restartCount 0 -> 1" in f and "IP " in f for f in changed)


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


# --- node Ready timeline: when NotReady comes is a finding, never an assumption -------------
def test_not_ready_is_reported_with_when_and_which_message_form(kube, apiserver):
    apiserver.sim.not_ready_after = 3  # cri-dockerd's cached docker version had almost expired
    steps = kube_cell(kube, "k8s128-liverestore", window=0.3)
    steps.timeline.poll()
    down_at = kube.runner.monotonic()
    apiserver.set_runtime(False)
    assert steps.timeline.poll() == "True", "NotReady before cri-dockerd's cache expired"
    apiserver.advance(3)
    steps.stopped_at = down_at
    steps.timeline.watch(kube.runner.monotonic() + 0.1)
    finding = steps.not_ready_finding()
    assert finding.startswith("node False ")
    assert finding.endswith("after the stop (runtime-not-ready: KubeletNotReady)")
    apiserver.advance(upstream.RUNTIME_SYNC_THRESHOLD_S)
    steps.timeline.poll()
    assert upstream.not_ready_form(steps.timeline.transitions[-1].message) == "runtime-down+runtime-not-ready"


def test_a_node_that_stays_ready_through_the_window_is_a_finding_not_a_failure(kube, apiserver):
    steps = kube_cell(kube, "k8s128-liverestore", window=0.2)
    steps.timeline.poll()
    assert "did not reach the outage" in steps.not_ready_finding()
    steps.stopped_at = kube.runner.monotonic()
    apiserver.set_runtime(False)
    apiserver.advance(60)  # within cri-dockerd's cache plus the kubelet's checks (75 s here)
    steps.timeline.watch(kube.runner.monotonic() + 0.1)
    assert not steps.timeline.went_not_ready
    assert steps.not_ready_finding().startswith("node stayed Ready for the whole 0.2 s window")


def test_wait_for_returns_false_when_the_node_stays_not_ready(kube, apiserver):
    timeline = NodeTimeline(kube, FAST.node_poll_s)
    apiserver.set_runtime(False)
    apiserver.advance(200)
    assert timeline.wait_for("True", 0.1) is False
    apiserver.set_runtime(True)
    assert timeline.wait_for("True", 1) is True


# --- the pod created during the outage: two outcomes, both evidence, recorded ---------------
def test_probe_pod_with_a_sandbox_failure_then_running(kube, apiserver):
    deployed(kube)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    apiserver.set_runtime(False)
    probe.create()
    seen = probe.wait_sandbox_failure(kube.runner.monotonic() + 1)
    assert seen.outcome == "sandbox-failed"
    assert upstream.is_runtime_down_sandbox_failure(seen.sandbox_events[0])
    finding = outage_pod_finding(seen)
    assert finding.startswith("outage pod: FailedCreatePodSandBox: Failed to create pod sandbox")
    apiserver.set_runtime(True)
    running = probe.wait_running(1)
    assert running.pod.phase == "Running" and running.pod.ready
    assert probe.nginx_version().startswith("nginx version: nginx/")
    probe.delete()
    assert ("pods", NS, NAME) not in apiserver.sim.store
    probe.delete()


def test_probe_pod_the_kubelet_no_longer_syncs_gets_no_status_and_no_event(kube, apiserver):
    deployed(kube)
    apiserver.sim.stops_syncing_after = 0  # the kubelet's runtime check already failed
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    apiserver.set_runtime(False)
    probe.create()
    seen = probe.wait_sandbox_failure(kube.runner.monotonic() + 0.1)
    assert seen.outcome == "not-synced" and not seen.stuck_creating
    assert seen.scheduled == "True" and not seen.unscheduled_because
    assert "stopped syncing" in outage_pod_finding(seen) and "PodScheduled True" in outage_pod_finding(seen)


def test_probe_pod_on_a_not_ready_node_is_unscheduled_and_the_finding_names_the_taint(kube, apiserver):
    """Once the node is NotReady the node lifecycle controller taints it not-ready:NoSchedule and
    the pod is never scheduled: no status and no event from the kubelet either, like a pod the
    kubelet stopped syncing. PodScheduled tells them apart; the taint is named because the node
    was seen carrying it."""
    deployed(kube)
    apiserver.sim.not_ready_after = 0  # the kubelet had already posted NotReady
    apiserver.sim.stops_syncing_after = 0
    timeline = NodeTimeline(kube, FAST.node_poll_s)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    apiserver.set_runtime(False)
    probe.create()
    seen = probe.wait_sandbox_failure(kube.runner.monotonic() + 0.5, each=timeline.poll)
    assert seen.outcome == "unscheduled" and seen.scheduled == "False"
    assert seen.unscheduled_because.startswith("Unschedulable: 0/1 nodes are available")
    assert timeline.samples == len(probe.sightings) > 1, "the node was not sampled with every look"
    assert timeline.saw_taint(upstream.NOT_READY_TAINTS[0])
    finding = outage_pod_finding(seen, timeline.saw_taint(upstream.NOT_READY_TAINTS[0]))
    assert finding.startswith("outage pod: never scheduled (PodScheduled False: Unschedulable: ")
    assert finding.endswith(
        f"the node carried {upstream.TAINT_NOT_READY}:NoSchedule, so the kubelet never got it"
    )
    assert "stopped syncing" not in finding
    untainted = outage_pod_finding(seen, node_tainted=False)
    assert "the node carried" not in untainted and untainted.endswith(
        "no not-ready taint was seen on the node"
    )
    apiserver.set_runtime(True)  # Ready again, the taints go, the scheduler binds it
    running = probe.wait_running(1)
    assert running.pod.phase == "Running" and running.scheduled == "True"
    assert timeline.poll() == "True" and timeline.transitions[-1].taints == ()


def test_a_pod_the_scheduler_has_not_looked_at_is_neither_outcome():
    pending = PodState("p", "u", "Pending", False, 0, "", "")
    seen = Sighting(pending, ())
    assert (
        seen.outcome == "other" and outage_pod_finding(seen) == "outage pod: Pending (PodScheduled not set)"
    )
    assert Sighting(pending, (), "False", "Unschedulable: x").outcome == "unscheduled"
    assert Sighting(pending, (), "True").outcome == "not-synced"
    creating = PodState("p", "u", "Pending", False, 0, "", "ContainerCreating")
    assert Sighting(creating, (), "False", "Unschedulable: x").outcome == "other"


def test_probe_pod_that_runs_at_once_means_the_runtime_was_up(kube, apiserver):
    deployed(kube)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    probe.create()
    seen = probe.wait_sandbox_failure(kube.runner.monotonic() + 0.1)
    assert seen.outcome == "running" and "runtime was not down" in outage_pod_finding(seen)


def test_exec_in_a_pod_that_is_not_running_reports_it(kube, apiserver):
    deployed(kube)
    apiserver.set_runtime(False)
    probe = ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s)
    probe.create()
    assert "nginx version" not in probe.nginx_version()


# --- the API server down with the runtime, and back ----------------------------------------
def test_readyz_says_when_the_api_server_is_gone_and_when_it_is_back(kube, apiserver):
    apiserver.sim.live_restore = False
    assert kube.readyz() == "ok"
    apiserver.set_runtime(False)
    assert kube.readyz().startswith("no answer")
    assert apiserver.dropped
    from urllib3.exceptions import HTTPError

    with pytest.raises(HTTPError):  # what any step that used the API now would meet
        NodeTimeline(kube, FAST.node_poll_s).discover()


def test_wait_control_plane_waits_for_readyz_node_and_static_pods(kube, apiserver):
    apiserver.sim.live_restore = False
    apiserver.sim.control_plane_after, apiserver.sim.static_ready_lag = 0.3, 0.2
    apiserver.set_runtime(False)
    apiserver.set_runtime(True)
    done = wait_control_plane(kube, 5, FAST.node_poll_s)
    assert done.readyz_s is not None and done.readyz_s >= 0.25
    assert done.static_pods_s is not None and done.static_pods_s >= done.readyz_s
    assert all(s.endswith("Running/Ready") for s in done.static_pods)


def test_wait_control_plane_names_what_did_not_come_back(kube, apiserver):
    apiserver.sim.live_restore = False
    apiserver.set_runtime(False)
    with pytest.raises(NodeError, match="not back within 0s: no answer"):
        wait_control_plane(kube, 0.2, FAST.node_poll_s)
    apiserver.set_runtime(True)
    apiserver.advance(apiserver.sim.control_plane_after)
    with pytest.raises(NodeError, match=r"kube-controller-manager: Running;"):
        wait_control_plane(kube, 0.1, FAST.node_poll_s)


# --- the whole Kubernetes side of a cell ---------------------------------------------------
def kube_cell(kube: Kube, name: str, window: float = 0.3) -> KubeCell:
    cell = load_matrix().cell(name)
    timings = dataclasses.replace(
        cell.timings, outage_window_s=window, ready_timeout_s=2, recover_timeout_s=5
    )
    return KubeCell(dataclasses.replace(cell, timings=timings), kube, FAST)


def through_outage(steps: KubeCell, kube: Kube, apiserver: FakeApiServer) -> list[tuple[str, str]]:
    """Setup and baseline, then the runtime stopped and the outage phase run: the requests the
    fake API server received during the outage."""
    steps.setup()
    steps.baseline()
    apiserver.set_runtime(False)
    sent = len(apiserver.requests)
    steps.outage(kube.runner.monotonic())
    return apiserver.requests[sent:]


def test_no_liverestore_cell_makes_no_api_call_during_the_outage(kube, apiserver):
    apiserver.sim.live_restore = False
    apiserver.sim.control_plane_after, apiserver.sim.static_ready_lag = 0.2, 0.1
    steps = kube_cell(kube, "k8s128-noliverestore")
    assert through_outage(steps, kube, apiserver) == [] and apiserver.dropped == []
    apiserver.set_runtime(True)
    wait_control_plane(kube, 5, FAST.node_poll_s)  # the driver's start_daemon does this
    steps.after()
    steps.change()
    steps.teardown()
    summary = steps.summary()
    assert summary["api_down_during_outage"] and summary["outage_pod_outcome"] is None
    assert summary["findings"][0].startswith("node Ready not observable")
    assert [f for f in summary["findings"] if "restartCount 0 -> 1" in f]
    gone = "lrm-k8s128-noliverestore"
    assert not [k for k in apiserver.sim.store if gone in (k[1], k[2])]


def test_liverestore_cell_on_an_already_not_ready_node_records_the_unscheduled_pod(kube, apiserver):
    apiserver.sim.not_ready_after, apiserver.sim.stops_syncing_after = 0, 0
    # a window of 1 s: with CI's envs beside it, 0.3 s held a single look at the pod
    steps = kube_cell(kube, "k8s128-liverestore", window=1.0)
    through_outage(steps, kube, apiserver)
    # the node is sampled with every look at the pod, not only after it
    assert steps.timeline.samples > len(steps.probe_pod.sightings) > 1
    apiserver.set_runtime(True)
    steps.after()
    summary = steps.summary()
    assert summary["outage_pod_outcome"] == "unscheduled"
    assert summary["outage_pod"][0]["scheduled"] == "False"
    assert any(upstream.NOT_READY_TAINTS[0] in t["taints"] for t in summary["node_ready_timeline"])
    assert [f for f in summary["findings"] if f.startswith("outage pod: never scheduled")]
    assert summary["nginx_version"].startswith("nginx version")


def test_a_taint_first_seen_after_the_window_is_not_counted_as_the_windows(kube, apiserver):
    apiserver.sim.stops_syncing_after = 0  # scheduled but not synced; NotReady only later
    steps = kube_cell(kube, "k8s128-liverestore")
    through_outage(steps, kube, apiserver)
    assert steps.outage_sighting is not None and steps.outage_sighting.outcome == "not-synced"
    apiserver.advance(apiserver.sim.not_ready_after)
    steps.timeline.poll()
    assert steps.timeline.saw_taint(upstream.NOT_READY_TAINTS[0]) and not steps.tainted_in_window


@pytest.mark.parametrize("accept", [True, False])
def test_the_result_says_whether_eviction_was_allowed(kube, apiserver, accept):
    steps = kube_cell(kube, "k8s128-liverestore", window=300.0)
    steps.cell = dataclasses.replace(steps.cell, accept_eviction=accept)
    summary = steps.summary()
    assert summary["eviction_allowed"] is accept
    said = [f for f in summary["findings"] if f.startswith("eviction allowed")]
    if accept:
        assert said == [
            "eviction allowed (accept_eviction): the 300 s window reaches the "
            f"{upstream.TAINT_NOT_READY}:NoExecute taint's default toleration of 300 s"
        ]
    else:
        assert said == []


def test_liverestore_cell_watches_the_outage_through_the_api(kube, apiserver):
    steps = kube_cell(kube, "k8s128-liverestore")
    during = through_outage(steps, kube, apiserver)
    assert ("POST", f"/api/v1/namespaces/{NS}/pods") in during
    assert any(path.startswith("/api/v1/nodes/") for _, path in during)
    apiserver.set_runtime(True)
    steps.after()
    summary = steps.summary()
    assert summary["outage_pod_outcome"] == "sandbox-failed" and not summary["api_down_during_outage"]
    assert summary["nginx_version"].startswith("nginx version")
    assert not [f for f in summary["findings"] if f.startswith("pod ")]


# --- the fake's objects are real-shaped ----------------------------------------------------
def test_fake_objects_validate_against_the_kubernetes_schema(kube, apiserver):
    kubernetes_validate = import_module("kubernetes_validate", "pip install kubernetes-validate")
    deployed(kube)
    apiserver.set_runtime(False)
    ProbePod(kube, NS, "nginx:alpine", FAST.node_poll_s).create()
    sim = apiserver.sim
    sim.not_ready_after = 0  # a tainted node, an unscheduled pod and the scheduler's event too
    apiserver.advance(0)
    body = {
        "metadata": {"name": "unscheduled"},
        "spec": {"containers": [{"name": "c", "image": "nginx:alpine"}]},
    }
    sim.handle("POST", f"/api/v1/namespaces/{NS}/pods", body, sim.now)
    assert sim.node()["spec"]["taints"] and "nodeName" not in sim.store[("pods", NS, "unscheduled")]["spec"]
    objects = [sim.node(), *sim.store.values()]
    objects.append(sim.handle("GET", f"/api/v1/namespaces/{NS}/pods", None, 0)[1])
    objects.append(sim.handle("GET", f"/api/v1/namespaces/{NS}/events", None, 0)[1])
    kinds = {o["kind"] for o in objects}
    assert {"FailedCreatePodSandBox", "FailedScheduling"} <= {o.get("reason") for o in objects}
    assert {"Node", "Namespace", "Pod", "Event", "Deployment", "ConfigMap", "PodList", "EventList"} <= kinds
    for obj in objects:
        kubernetes_validate.validate(obj, "1.34", strict=True)
