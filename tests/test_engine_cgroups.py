"""Which cgroup parent an engine node gives its containers, and which processes it then
counts as its containers' (for the teardown, residue() and `lrmatrix recover`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrmatrix.drivers.engine import net as engine_net
from lrmatrix.drivers.engine import node as engine
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.matrix.cells import load_matrix

ID = "a" * 64


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cgroup root and a systemd marker of the test's own: a v1 host without systemd."""
    monkeypatch.setattr(engine_net, "CGROUP_ROOT", tmp_path / "cgroup")
    monkeypatch.setattr(engine, "SYSTEMD_RUNNING", tmp_path / "systemd")
    (tmp_path / "cgroup" / "memory").mkdir(parents=True)
    return tmp_path


def node(daemon_json: dict[str, object]) -> EngineNode:
    cell = load_matrix().cell("engine-liverestore")
    return EngineNode(type(cell)(**{**vars(cell), "daemon_json": daemon_json}), slot=engine_net.Slot(7))


@pytest.mark.parametrize(
    ("daemon_json", "v2_with_systemd", "parent"),
    [
        ({}, False, {"cgroup-parent": "/lrmatrix-lrm7"}),
        ({}, True, {}),  # moby's UsingSystemd: systemd's driver by default there
        ({"exec-opts": ["native.cgroupdriver=systemd"]}, False, {}),
        ({"exec-opts": ["native.cgroupdriver=cgroupfs"]}, True, {"cgroup-parent": "/lrmatrix-lrm7"}),
    ],
    ids=["v1", "v2-systemd", "systemd-named", "cgroupfs-named"],
)
def test_the_parent_is_set_only_for_the_cgroupfs_driver(host, daemon_json, v2_with_systemd, parent):
    if v2_with_systemd:
        (host / "cgroup" / "cgroup.controllers").write_text("cpu memory\n")
        (host / "systemd").mkdir()
    assert node(daemon_json).cgroup_parent() == parent


@pytest.mark.parametrize(
    ("text", "mine"),
    [
        ("4:memory:/lrmatrix-lrm7/" + "b" * 64 + "\n0::/lrmatrix-lrm7/" + "b" * 64, True),
        ("4:memory:/lrmatrix-lrm70/" + "b" * 64, False),  # another node's parent
        ("4:memory:/docker/" + ID, True),  # a container of its data-root, under the default parent
        ("0::/system.slice/docker-" + ID + ".scope", True),  # the same under systemd's driver
        ("4:memory:/docker/" + "c" * 64, False),  # some other Docker's container
        ("4:memory:/process_api/x\n0::/", False),
    ],
)
def test_a_process_is_the_nodes_by_its_cgroup_parent_or_a_container_id(text, mine):
    assert engine._in_cgroups(text, "lrmatrix-lrm7", {ID}) is mine


def test_cgroup_folders_are_found_in_every_hierarchy_and_name_their_slot(host):
    for controller in ("memory", "pids", "unified"):
        (host / "cgroup" / controller / "lrmatrix-lrm7" / ID).mkdir(parents=True)
    (host / "cgroup" / "memory" / "lrmatrix-lrm70").mkdir()
    found = engine_net.cgroup_dirs(engine_net.Slot(7))
    assert sorted(p.parent.name for p in found) == ["memory", "pids", "unified"]
    assert {p.name for p in engine_net.cgroup_dirs()} == {"lrmatrix-lrm7", "lrmatrix-lrm70"}


def test_a_slot_whose_cgroup_alone_is_left_is_a_leftover_and_never_claimed(host, monkeypatch):
    """Its namespace, record and folder gone, an orphan may still run in its cgroup: recover
    must find the slot, and a new node must not take it. The next slot is known to the node
    and recorded before `ip netns add` runs."""
    monkeypatch.setattr(engine_net, "NETNS_DIR", host / "netns")
    monkeypatch.setattr(engine_net, "LOCK_DIR", host / "slots")
    (host / "cgroup" / "memory" / "lrmatrix-lrm1").mkdir()
    assert engine_net.leftover_slots() == [engine_net.Slot(1)]
    monkeypatch.setattr(engine_net, "networks_in_use", list)
    monkeypatch.setattr(engine_net, "run", lambda argv, **_: pytest.fail(f"ran {argv}"))
    claimed = []
    with pytest.raises(pytest.fail.Exception, match=r"ip.*netns.*add.*lrm2"):
        engine_net.claim_slot(host / "state", lambda slot, lock: claimed.append(slot))
    assert claimed == [engine_net.Slot(2)]
    assert (host / "slots" / "lrm2.json").read_text() == f'{{"state_root": "{host / "state"}"}}'
