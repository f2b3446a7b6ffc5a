"""The engine driver refuses, before changing anything, on machines that cannot run it."""

from __future__ import annotations

import pytest

from lrmatrix.drivers.engine import node as engine
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.errors import EnvironmentProblem
from lrmatrix.matrix.cells import load_matrix


@pytest.fixture
def node(root_dir):
    return EngineNode(load_matrix(root_dir / "matrix").cell("engine-liverestore"))


def test_not_root_is_refused_with_what_to_do(node, monkeypatch):
    monkeypatch.setattr(engine.sys, "platform", "linux")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    with pytest.raises(EnvironmentProblem, match=r"must run as root .*rerun with sudo"):
        node.sanity_checks()


def test_not_linux_is_refused(node, monkeypatch):
    monkeypatch.setattr(engine.sys, "platform", "darwin")
    with pytest.raises(EnvironmentProblem, match="needs Linux"):
        node.sanity_checks()


def test_missing_packages_are_named_with_the_install_command(node, monkeypatch):
    monkeypatch.setattr(engine.sys, "platform", "linux")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(engine, "missing_commands", lambda _packages: ["docker.io", "iptables"])
    with pytest.raises(
        EnvironmentProblem,
        match=r"missing docker.io, iptables: install with `apt-get install docker.io iptables`",
    ):
        node.sanity_checks()


def test_state_folder_too_long_for_unix_sockets(root_dir, monkeypatch):
    monkeypatch.setattr(engine.sys, "platform", "linux")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(engine, "missing_commands", lambda _packages: [])
    monkeypatch.setenv("LRMATRIX_STATE_DIR", "/" + "x" * 90)
    node = EngineNode(load_matrix(root_dir / "matrix").cell("engine-liverestore"))
    with pytest.raises(EnvironmentProblem, match="too long for containerd's unix sockets"):
        node.sanity_checks()
