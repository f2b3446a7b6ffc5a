"""The Kubernetes side and the drivers do not import each other both ways, and a node without a
cluster says so in one line when a Kubernetes cell asks for its API."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

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
