"""Fixtures for the contract tests: a fake API server per test and a kubeconfig naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("kubernetes", reason="contract tests need the kubernetes client (lrmatrix[kubernetes])")

from contract.fake_apiserver import CONTEXT, FakeApiServer
from contract.sim import SimCluster
from lrmatrix.kube.api import Kube
from lrmatrix.kube.runner import RealRunner


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer(SimCluster(node_name=CONTEXT)).start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return apiserver.kubeconfig(tmp_path / "kubeconfig", CONTEXT)


@pytest.fixture
def kube(kubeconfig: Path) -> Kube:
    return Kube.from_kubeconfig(RealRunner(), CONTEXT, str(kubeconfig))
