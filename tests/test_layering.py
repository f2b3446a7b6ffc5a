"""The Kubernetes side and the drivers do not import each other both ways, and a node without a
cluster says so in one line when a Kubernetes cell asks for its API."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lrmatrix
from lrmatrix.drivers.base import Node
from lrmatrix.errors import BadInput
from lrmatrix.kube.api import cluster_of


def test_kube_runner_does_not_import_the_drivers() -> None:
    code = (
        "import sys, lrmatrix.kube.api, lrmatrix.kube.runner;"
        "print(sorted(m for m in sys.modules if m.startswith('lrmatrix.drivers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_node_base_has_no_kubernetes_hook() -> None:
    assert not hasattr(Node, "kube_client")


class _Plain:
    scheme = "engine"


class _InCluster:
    scheme = "minikube"

    def kube_client(self) -> str:
        return "the cluster's API"


def test_a_node_without_a_cluster_is_refused_in_one_line() -> None:
    line = "the engine driver has no Kubernetes API; Kubernetes cells need minikube"
    with pytest.raises(BadInput, match=f"^{re.escape(line)}$"):
        cluster_of(_Plain())


def test_a_node_in_a_cluster_gives_its_api() -> None:
    assert cluster_of(_InCluster()) == "the cluster's API"


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, type-only imports
    (under ``TYPE_CHECKING``) and imports inside functions included."""
    root = Path(lrmatrix.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lrmatrix"):
                found |= {resolve(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {resolve(a.name) for a in node.names if a.name.startswith("lrmatrix")}
        graph[name] = {m for m in found if m and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others() -> None:
    """No import circles, type-only imports included: each part can be read (and replaced)
    from the bottom up."""
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_action_imports_the_runner() -> None:
    graph = import_graph()
    actions = [m for m in graph if m.startswith("lrmatrix.run.actions")]
    assert actions
    assert not [m for m in actions if "lrmatrix.run.runner" in graph[m]]
