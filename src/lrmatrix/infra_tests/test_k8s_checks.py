"""Kubernetes checks of a cell, phase by phase (skipped for cells without Kubernetes).

The steps themselves live in lrmatrix.kube.steps (the same ones ``lrmatrix plan`` replays);
the scenario runs each when it enters the phase, and these tests judge what it observed.
"""

from __future__ import annotations

import pytest

from lrmatrix.evidence.probe import wait_until_ok
from lrmatrix.kube.probe_pod import SHOWS_OUTAGE
from lrmatrix.kube.records import KubeSession
from lrmatrix.kube.workload import NODE_PORT
from lrmatrix.plugin import KEY
from lrmatrix.run.actions.change import NO_CHANGE
from lrmatrix.workload.containers import UPDATED_ENDPOINTS
from lrmatrix.workload.targets import endpoint_targets


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One rollout check per endpoint the change must bring: the seed's /health, /status and
    /test, or a manifests workload's change endpoints; none without a change overlay."""
    if "updated" not in metafunc.fixturenames:
        return
    runner = metafunc.config.stash.get(KEY, None)
    spec = runner.cell.workload if runner is not None else None
    manifests = spec.manifests if spec is not None else None
    endpoints = UPDATED_ENDPOINTS if manifests is None else manifests.change_endpoints
    if not endpoints:
        metafunc.parametrize("updated", [pytest.param(None, marks=pytest.mark.skip(reason=NO_CHANGE))])
        return
    metafunc.parametrize("updated", endpoints, ids=lambda e: e.label())


@pytest.fixture(scope="session")
def k8s(evidence, cell):
    """The scenario's Kubernetes steps; it runs each in its phase transition, these judge."""
    session = evidence.last(KubeSession)
    if not cell.kubernetes or session is None:
        pytest.skip("Kubernetes checks need a Kubernetes cell")
    return session.kube


@pytest.mark.phase("baseline")
def test_k8s_both_pods_ready_and_restart_counts_recorded(k8s):
    """Every replica of the Deployments (the seed: both) Ready; the id is kept for compare."""
    want = k8s.workload.manifests.replicas
    assert len(k8s.before) == want and all(p.ready for p in k8s.before), k8s.before


@pytest.mark.phase("baseline")
def test_k8s_node_ready(k8s):
    assert k8s.timeline.transitions[-1].status == "True", k8s.timeline.transitions[-1]


@pytest.fixture
def api_up_during_outage(k8s):
    """Without live-restore the API server (a static pod in Docker) dies with dockerd: the
    outage is then read from the api access path, not from API calls."""
    if k8s.api_down_during_outage:
        pytest.skip("the API server is down with dockerd without live-restore; see the api path")


@pytest.mark.phase("outage")
def test_k8s_pods_still_reported_running(k8s, api_up_during_outage):
    assert k8s.during and all(p.phase == "Running" for p in k8s.during), k8s.during


@pytest.mark.phase("outage")
def test_k8s_new_pod_shows_the_outage(k8s, api_up_during_outage):
    """Each outcome shows the runtime down (which one is recorded): a FailedCreatePodSandBox
    event; no status and no event because the kubelet stopped syncing pods; or never scheduled
    because the node was already NotReady (PodScheduled False)."""
    seen = k8s.outage_sighting
    assert seen is not None and seen.outcome in SHOWS_OUTAGE, seen


@pytest.mark.phase("outage")
def test_k8s_node_ready_timeline_recorded(k8s, api_up_during_outage):
    """Sampled all along; when (or whether) NotReady came is a finding, not a check:
    cri-dockerd caches docker version for a minute, so it can come after the window."""
    assert k8s.timeline.samples > 1
    assert k8s.not_ready_finding().startswith("node ")


@pytest.mark.phase("after")
def test_k8s_node_ready_again_and_pods_running(k8s):
    assert k8s.node_ready_again, k8s.timeline.transitions
    want = k8s.workload.manifests.replicas
    assert len(k8s.after_pods) == want and all(p.phase == "Running" and p.ready for p in k8s.after_pods)


@pytest.mark.phase("after")
def test_k8s_restart_counts_kept_or_changed(k8s, cell):
    before = {p.name: p.restarts for p in k8s.before}
    after = {p.name: p.restarts for p in k8s.after_pods}
    if cell.live_restore:
        assert after == before, "pods restarted although live-restore was on"
    else:
        assert set(after) != set(before) or any(after[n] > before[n] for n in before), (
            "pods neither restarted nor recreated without live-restore"
        )


@pytest.mark.phase("after")
def test_k8s_pending_pod_runs_and_nginx_answers(k8s, api_up_during_outage):
    seen = k8s.recovered_sighting
    assert seen is not None and seen.pod.phase == "Running", seen
    assert k8s.nginx_version.startswith("nginx version:"), k8s.nginx_version


@pytest.mark.phase("change")
def test_k8s_rollout_serves_updated_config(k8s, node, cell, updated):
    """After the rollout, each endpoint answers as the change says, on its Service's NodePort."""
    (endpoint,) = k8s.workload.manifests.probed((updated,), "the change")
    place = f"{node.address}:{endpoint.node_port or NODE_PORT}"
    targets = endpoint_targets((endpoint,), [(place, "")], "")
    assert wait_until_ok(targets, 30, cell.timings.probe_timeout_s) is not None
