"""A user's own manifests folder through the real kubernetes client against the fake API
server, and a whole cell of it on the recording runner (contract.dryrun). The fake serves
real-shaped objects; no real cluster ran any of this (none can here: DESIGN.md)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import user_manifests
from contract import dryrun
from contract.fake_apiserver import FAST
from contract.sim import NODE_IP
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Deployed
from lrmatrix.kube.manifests import of
from lrmatrix.kube.records import KubeSession
from lrmatrix.kube.workload import RESTARTED_AT, KubeWorkload
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.workload.snapshot import Snapshot

pytestmark = pytest.mark.contract
NS = user_manifests.NAMESPACE


@pytest.fixture
def matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = user_manifests.write(tmp_path)
    monkeypatch.setenv("LRMATRIX_MATRIX", str(folder))
    return folder


def shop(kube) -> KubeWorkload:
    spec = load_matrix().cell(user_manifests.CELL).workload
    assert spec is not None and spec.manifests is not None
    return KubeWorkload(kube, NS, FAST, manifests=of(spec.manifests))


def test_the_users_objects_are_applied_and_their_pods_found_by_the_deployments_labels(
    matrix, kube, apiserver
):
    workload = shop(kube)
    workload.deploy()
    made = sorted((k[0], k[2]) for k in apiserver.sim.store if k[1] == NS and k[0] != "pods")
    assert made == [
        ("configmaps", "shop-config"),
        ("deployments", "shop"),
        ("services", "shop-cache"),
        ("services", "shop-web"),
    ]
    pods = workload.wait_ready(2)
    assert len(pods) == 3 and all(p.ready for p in pods), "three replicas, read from the Deployment"
    assert not any(k[2].startswith("nginx-web") for k in apiserver.sim.store if k[1] == NS)


def test_a_replica_short_is_not_ready(matrix, kube, apiserver):
    workload = shop(kube)
    workload.deploy()
    pod = next(o for k, o in apiserver.sim.store.items() if k[0] == "pods" and k[1] == NS)
    next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] = "False"
    with pytest.raises(NodeError, match="2/3 shop pods Ready"):
        workload.wait_ready(0.2)


def test_the_overlay_replaces_the_configmap_and_rolls_the_deployment(matrix, kube, apiserver):
    workload = shop(kube)
    workload.deploy()
    before = {p.name for p in workload.wait_ready(2)}
    workload.apply_change()
    assert apiserver.sim.store[("configmaps", NS, "shop-config")]["data"] == {"greeting": "hello - updated"}
    dep = apiserver.sim.store[("deployments", NS, "shop")]
    assert RESTARTED_AT in dep["spec"]["template"]["metadata"]["annotations"]
    assert {p.name for p in workload.pods()}.isdisjoint(before), "the rollout replaced every pod"


def test_a_whole_cell_applies_the_folder_and_probes_the_nodeports_of_its_services(matrix):
    runner, run = dryrun.drive(load_matrix().cell(user_manifests.CELL))
    calls = [c.display for c in runner.calls]
    assert sum(f"POST /api/v1/namespaces/{NS}/services" in c for c in calls) == 2
    probes = [c for c in calls if c.startswith("probe node path")]
    assert any(f"http://{NODE_IP}:30090/ready" in c for c in probes), probes
    assert any(f"tcp://{NODE_IP}:30091" in c for c in probes), probes
    assert not any(":30081" in c for c in probes), "the seed's NodePort is not the user's"
    ps = [c for c in calls if " docker ps " in c]
    assert ps and not any("container.name=nginx" in c for c in ps)
    assert any("container.name=app" in c for c in ps) and any("container.name=sidecar" in c for c in ps)
    workload = run.evidence.require(Deployed).workload
    assert workload.spec.identify == "X-Pod" and workload.image == "shop:1"
    before = next(s for s in run.evidence.all(Snapshot) if s.which == "before")
    assert len(before.containers) == 3, "the app container of each of three pods, found by its labels"
    assert all(c.name.startswith("k8s_app_shop-") for c in before.containers), before.containers
    change = calls.index("change")
    assert any(f"PATCH /api/v1/namespaces/{NS}/configmaps/shop-config" in c for c in calls[change:])
    assert dryrun.result_of(run).kubernetes is not None


def test_a_cell_without_an_overlay_changes_nothing_and_says_so(matrix):
    toml = matrix / "matrix.toml"
    toml.write_text(
        toml.read_text()
        .replace('change_manifests = "shop-change.yaml"\n', "")
        .replace('change_endpoints = [{ path = "/greeting", body = "hello - updated", port = 8080 }]\n', "")
    )
    runner, _ = dryrun.drive(load_matrix().cell(user_manifests.CELL))
    calls = [c.display for c in runner.calls]
    after = calls[calls.index("change") :]
    assert not any(c.startswith("PATCH") for c in after)


def test_the_pod_checks_count_the_deployments_replicas_both_ways(matrix):
    """The built-in checks judge the user's three replicas, not the seed's two."""
    checks = importlib.import_module("lrmatrix.infra_tests.test_k8s_checks")
    _, run = dryrun.drive(load_matrix().cell(user_manifests.CELL))
    kube = run.evidence.require(KubeSession).kube
    checks.test_k8s_both_pods_ready_and_restart_counts_recorded(kube)
    checks.test_k8s_node_ready_again_and_pods_running(kube)
    kube.before, kube.after_pods = kube.before[:2], kube.after_pods[:2]
    with pytest.raises(AssertionError):
        checks.test_k8s_both_pods_ready_and_restart_counts_recorded(kube)
    with pytest.raises(AssertionError):
        checks.test_k8s_node_ready_again_and_pods_running(kube)
