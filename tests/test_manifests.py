"""manifests/: the seed workload as Kubernetes objects, validated against the API schema of
every Kubernetes version in the matrix before anyone starts a cluster."""

from __future__ import annotations

import copy
import re

import pytest

from prereqs import import_module

kubernetes_validate = import_module("kubernetes_validate", "pip install kubernetes-validate")
import_module("yaml", 'pip install "lrmatrix[ci]"')

from lrmatrix.kube.workload import CHANGE, DEPLOYMENT, MANIFEST, NODE_PORT, load_manifest  # noqa: E402
from lrmatrix.matrix.cells import load_matrix  # noqa: E402
from lrmatrix.workload.containers import ENDPOINTS, INDEX_HTML, UPDATED_ENDPOINTS, nginx_conf  # noqa: E402

VERSIONS = sorted({c.kubernetes for c in load_matrix().cells if c.kubernetes})
FILES = (MANIFEST, CHANGE)


def docs(name: str) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in load_manifest(name)}


def minor(version: str) -> str:
    return re.sub(r"^v?(\d+\.\d+).*", r"\1", version)


def test_matrix_has_kubernetes_versions():
    assert [minor(v) for v in VERSIONS] == [f"1.{n}" for n in range(28, 35)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", FILES)
def test_every_manifest_validates_for_every_matrix_version(name, version):
    for doc in load_manifest(name):
        used = kubernetes_validate.validate(doc, version, strict=True)
        assert used == minor(version), f"validated against {used}, not the schema of {version}"


BROKEN = {
    "replicas as text": lambda d: d["spec"].update(replicas="two"),
    "unknown field": lambda d: d["spec"].update(replica=2),
    "container without a name": lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
    "port as text": lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
        containerPort="80"
    ),
}


@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]])
@pytest.mark.parametrize("breakage", BROKEN, ids=str)
def test_a_broken_manifest_is_rejected(breakage, version):
    deployment = copy.deepcopy(docs(MANIFEST)[f"Deployment/{DEPLOYMENT}"])
    BROKEN[breakage](deployment)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, version, strict=True)


def test_nginx_config_is_the_workload_module_text():
    web, change = docs(MANIFEST), docs(CHANGE)
    assert web["ConfigMap/nginx-web-config"]["data"]["nginx.conf"] == nginx_conf()
    assert change["ConfigMap/nginx-web-config"]["data"]["nginx.conf"] == nginx_conf(updated=True)
    assert web["ConfigMap/nginx-web-html"]["data"]["index.html"] == INDEX_HTML


def test_config_change_serves_the_updated_texts():
    conf = docs(CHANGE)["ConfigMap/nginx-web-config"]["data"]["nginx.conf"]
    for ep in UPDATED_ENDPOINTS:
        assert f"location = {ep.path} " in conf and f'"{ep.expect}\\n"' in conf
    base = docs(MANIFEST)["ConfigMap/nginx-web-config"]["data"]["nginx.conf"]
    assert "/test" not in base
    for ep in ENDPOINTS[1:]:
        assert f'"{ep.expect}\\n"' in base


def test_deployment_runs_two_nginx_alpine_replicas_with_both_configmaps():
    dep = docs(MANIFEST)[f"Deployment/{DEPLOYMENT}"]
    spec = dep["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == ["nginx:alpine"]
    volumes = {v["name"]: v["configMap"]["name"] for v in pod["volumes"]}
    assert sorted(volumes.values()) == ["nginx-web-config", "nginx-web-html"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"config": "/etc/nginx/nginx.conf", "html": "/usr/share/nginx/html"}
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/health"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_service_is_nodeport_30081_selecting_the_pods():
    web = docs(MANIFEST)
    svc = web["Service/nginx-web-service"]["spec"]
    assert svc["type"] == "NodePort"
    assert [p["nodePort"] for p in svc["ports"]] == [NODE_PORT] == [30081]
    labels = web[f"Deployment/{DEPLOYMENT}"]["spec"]["template"]["metadata"]["labels"]
    assert svc["selector"].items() <= labels.items()
    port_names = {
        p["name"]
        for p in web[f"Deployment/{DEPLOYMENT}"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert {p["targetPort"] for p in svc["ports"]} <= port_names


def test_manifests_leave_the_namespace_to_the_cell():
    for name in FILES:
        assert all("namespace" not in d["metadata"] for d in load_manifest(name))
