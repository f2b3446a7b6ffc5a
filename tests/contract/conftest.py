"""Fixtures for the contract tests: a fake API server per test and a kubeconfig naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prereqs import import_module

import_module("kubernetes", 'pip install "lrmatrix[kubernetes]": the contract tests\' client')

from contract.fake_apiserver import CONTEXT, FakeApiServer  # noqa: E402
from contract.sim import SimCluster  # noqa: E402
from lrmatrix.kube.api import Kube  # noqa: E402
from lrmatrix.kube.runner import RealRunner  # noqa: E402


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
