"""A Kubernetes workload of the user's own: a manifests folder read before anything is
applied. What the run needs (pods, containers, NodePorts) comes from it; anything it cannot
apply or probe is one line and exit 2 (no cluster runs here: see tests/contract)."""

from __future__ import annotations

from pathlib import Path

import pytest

import user_manifests
from lrmatrix.cli.main import main
from lrmatrix.errors import BadInput
from lrmatrix.kube.manifests import read
from lrmatrix.kube.workload import seed_manifests
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.workload.spec import Endpoint
from prereqs import import_module

import_module("yaml", "pip install 'lrmatrix[kubernetes]': manifests are YAML")


@pytest.fixture
def matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = user_manifests.write(tmp_path)
    monkeypatch.setenv("LRMATRIX_MATRIX", str(folder))
    return folder


def test_what_the_run_needs_is_read_from_the_users_folder(matrix):
    spec = load_matrix().cell(user_manifests.CELL).workload
    assert spec is not None and spec.manifests is not None
    found = read(Path(spec.manifests.path), "manifests", Path(spec.manifests.change), "change")
    assert [d["kind"] for d in found.docs] == ["ConfigMap", "Deployment", "Service", "Service"]
    (shop,) = found.deployments
    assert (shop.name, shop.replicas, shop.selector) == ("shop", 3, "app.kubernetes.io/name=shop,tier=web")
    assert found.containers == ("app", "sidecar") and shop.image == "shop:1"
    assert [(p.service, p.node_port) for p in found.node_ports] == [
        ("shop-web", 30090),
        ("shop-cache", 30091),
    ]
    # an endpoint's port is the Service's port or targetPort (a named one: the container's port)
    http, tcp = found.probed(spec.endpoints, "shop")
    assert (http.path, http.node_port, tcp.tcp, tcp.node_port) == ("/ready", 30090, True, 30091)
    (greeting,) = found.probed(spec.manifests.change_endpoints, "shop")
    assert greeting.node_port == 30090, "targetPort web = containerPort 8080"
    assert [d["metadata"]["name"] for d in found.change] == ["shop-config"]


def test_the_seed_is_read_the_same_way_and_keeps_its_nodeport():
    seed = seed_manifests()
    assert [p.node_port for p in seed.node_ports] == [30081]
    assert seed.containers == ("nginx",) and seed.replicas == 2
    assert seed.deployments[0].selector == "app=nginx-web" and len(seed.change) == 1


def test_one_nodeport_needs_no_port_and_two_need_one(matrix):
    found = read(matrix / "shop", "manifests")
    with pytest.raises(BadInput, match=r"several NodePorts .*say which with port"):
        found.node_port(0, "endpoint /")
    with pytest.raises(BadInput, match="port = 81 is no Service's port or targetPort"):
        found.node_port(81, "endpoint /")
    (matrix / "shop" / "services.yaml").write_text(user_manifests.SERVICES.split("---")[0])
    assert read(matrix / "shop", "manifests").probed((Endpoint("/"),), "x")[0].node_port == 30090


def test_plan_commands_show_the_users_manifests_applied_and_probed(matrix, capsys):
    assert main(["plan", user_manifests.CELL, "--commands"]) == 0
    out = capsys.readouterr().out
    ns = user_manifests.NAMESPACE
    for made in ("api/v1/namespaces/{}/configmaps", "apis/apps/v1/namespaces/{}/deployments"):
        assert f"> POST /{made.format(ns)}" in out
    assert out.count(f"> POST /api/v1/namespaces/{ns}/services") == 2
    assert f"apply the manifests of {matrix / 'shop'}" in out
    assert "Service shop-web 80 -> NodePort 30090, shop-cache 6379 -> NodePort 30091" in out
    assert "the node path probes /ready on <node ip>:30090, tcp PING on <node ip>:30091" in out
    assert "labelSelector=app.kubernetes.io/name%3Dshop%2Ctier%3Dweb" in out and "3 pods Ready" in out
    assert f"> PATCH /api/v1/namespaces/{ns}/configmaps/shop-config" in out
    assert f"> PATCH /apis/apps/v1/namespaces/{ns}/deployments/shop" in out
    assert "nginx-web" not in out


def test_without_a_change_overlay_the_change_is_none_and_says_so(matrix, capsys):
    toml = matrix / "matrix.toml"
    toml.write_text(
        toml.read_text()
        .replace('change_manifests = "shop-change.yaml"\n', "")
        .replace('change_endpoints = [{ path = "/greeting", body = "hello - updated", port = 8080 }]\n', "")
    )
    assert main(["plan", user_manifests.CELL, "--commands"]) == 0
    out = capsys.readouterr().out
    change = out[out.index("== change") :]
    assert "no config change for this workload" in change and "PATCH" not in change


def folder_missing(m: Path) -> None:
    for f in (m / "shop").iterdir():
        f.unlink()
    (m / "shop").rmdir()


def no_yaml_file(m: Path) -> None:
    for f in (m / "shop").glob("*.y*ml"):
        f.unlink()


def no_service(m: Path) -> None:
    (m / "shop" / "services.yaml").unlink()


def cluster_ip(m: Path) -> None:
    (m / "shop" / "services.yaml").write_text(
        user_manifests.SERVICES.replace("type: NodePort", "type: ClusterIP", 1)
    )


def no_node_port(m: Path) -> None:
    (m / "shop" / "services.yaml").write_text(user_manifests.SERVICES.replace("      nodePort: 30091\n", ""))


def not_yaml(m: Path) -> None:
    (m / "shop" / "config.yaml").write_text("kind: ConfigMap\nmetadata: {name: [unclosed\n")


def ingress(m: Path) -> None:
    (m / "shop" / "ingress.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: shop\n"
    )


def namespaced(m: Path) -> None:
    (m / "shop" / "config.yaml").write_text(
        user_manifests.CONFIG.replace("  name: shop-config\n", "  name: x\n  namespace: prod\n")
    )


def no_deployment(m: Path) -> None:
    (m / "shop" / "deployment.yml").unlink()


def overlay_of_a_deployment(m: Path) -> None:
    (m / "shop-change.yaml").write_text(user_manifests.DEPLOYMENT)


def overlay_of_another_configmap(m: Path) -> None:
    (m / "shop-change.yaml").write_text(user_manifests.CHANGE.replace("shop-config", "other-config"))


def overlay_missing(m: Path) -> None:
    (m / "shop-change.yaml").unlink()


def endpoint_port_unknown(m: Path) -> None:
    toml = m / "matrix.toml"
    toml.write_text(toml.read_text().replace("status = 204, port = 80 }", "status = 204, port = 81 }"))


BAD = [
    (folder_missing, "[workloads.shop]: manifests = 'shop': no such folder or file"),
    (no_yaml_file, "[workloads.shop]: manifests = 'shop': no .yaml or .yml file in"),
    (no_service, "no Service in"),
    (cluster_ip, "services.yaml: Service/shop-web is no NodePort Service"),
    (no_node_port, "services.yaml: Service/shop-cache port 6379 has no nodePort"),
    (not_yaml, "config.yaml line 3 is not YAML"),
    (
        ingress,
        "Ingress/shop: lrmatrix does not apply Ingress; it applies ConfigMap, Service, Deployment",
    ),
    (namespaced, "config.yaml: ConfigMap/x sets metadata.namespace; remove it"),
    (no_deployment, "no Deployment in"),
    (
        overlay_of_a_deployment,
        "shop-change.yaml: Deployment/shop: lrmatrix does not apply Deployment; it applies ConfigMap",
    ),
    (overlay_of_another_configmap, "ConfigMap/other-config is not in"),
    (overlay_missing, "change_manifests = 'shop-change.yaml': no such folder or file"),
    (endpoint_port_unknown, "[workloads.shop] endpoint /ready: port = 81 is no Service's port or targetPort"),
]


@pytest.mark.parametrize(("spoil", "words"), BAD, ids=[b[0].__name__ for b in BAD])
def test_bad_manifests_are_one_line_and_exit_2_before_anything_runs(matrix, capsys, spoil, words):
    spoil(matrix)
    assert main(["cells"]) == 0, (
        "the matrix still lists its cells; the folder is read when the cell is chosen"
    )
    capsys.readouterr()
    assert main(["plan", user_manifests.CELL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert words in err, err


def test_the_good_folder_passes_the_same_checks(matrix, capsys):
    """The other side of the bad cases: the unspoilt folder plans."""
    assert main(["plan", user_manifests.CELL]) == 0


BAD_TABLES = [
    ('manifests = "shop"', 'manifests = "shop"\nrecipe = "redis"', "recipe is for engine and ssh workloads"),
    ('manifests = "shop"', 'manifests = "shop"\nreplicas = 2', "replicas is for engine and ssh workloads"),
    (
        'change_manifests = "shop-change.yaml"\n',
        "",
        "change_endpoints need change_manifests",
    ),
    (
        "[cells.k8s128-liverestore-shop]",
        '[cells.engine-liverestore-shop]\nworkload = "shop"\n\n[cells.k8s128-liverestore-shop]',
        "[cells.engine-liverestore-shop]: workload = 'shop' is Kubernetes manifests; "
        "pick it on a Kubernetes platform",
    ),
    (
        'workload = "shop"\n\n[cells.k8s129',
        'workload = "redis"\n\n[cells.k8s129',
        "workload = 'redis' runs containers of its own",
    ),
    (
        "[workloads.redis]\ndescription",
        '[workloads.redis]\nchange_manifests = "x.yaml"\ndescription',
        "[workloads.redis]: change_manifests is for a workload with manifests (Kubernetes)",
    ),
    ("port = 6379\nbase_port", "base_port", "[workloads.redis]: port is required"),
]


@pytest.mark.parametrize(("old", "new", "words"), BAD_TABLES)
def test_bad_workload_tables_are_one_line(matrix, capsys, old, new, words):
    toml = matrix / "matrix.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))
    assert main(["cells"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
