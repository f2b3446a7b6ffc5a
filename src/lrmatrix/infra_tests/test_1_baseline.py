"""Baseline: the node is configured as the cell says and the workload runs, before disruption."""

from __future__ import annotations

import json

import pytest

from lrmatrix.evidence.records import LiveRestoreApplied
from lrmatrix.modules import daemon_json
from lrmatrix.run.background import PROBE, ProbeRun
from lrmatrix.workload.snapshot import capture
from lrmatrix.workload.spec import SEED

pytestmark = pytest.mark.phase("baseline")


def test_daemon_json_exists_and_parses(host, node):
    f = host.file(node.daemon_json_path)
    assert f.exists, f"{node.daemon_json_path} is missing"
    assert isinstance(json.loads(f.content_string), dict)


def test_daemon_json_live_restore_is_cell_value(host, node, cell):
    config = json.loads(host.file(node.daemon_json_path).content_string)
    assert config.get("live-restore") is cell.live_restore


def test_daemon_json_other_keys_preserved(host, node, evidence):
    current = json.loads(host.file(node.daemon_json_path).content_string)
    changed = daemon_json.preserved_keys(evidence.require(LiveRestoreApplied).original_config, current)
    assert changed == [], f"keys other than live-restore changed: {changed}"


def test_effective_live_restore_matches(host, cell):
    out = host.check_output("docker info --format '{{.LiveRestoreEnabled}}'")
    assert out.strip() == str(cell.live_restore).lower()


def test_dockerd_running(host, node):
    pid = node.daemon_pid()
    assert pid is not None, "dockerd is not running"
    assert pid in [p.pid for p in host.process.filter(comm="dockerd")]


def test_containerd_serves_the_shims(host, node, workload):
    """The containerd this daemon uses is listening where its shims were told to connect (the
    machine may run other containerds: a process name alone proves nothing)."""
    snap = capture(node, workload)
    shims = [p for group in snap.procs.values() for p in group if "containerd-shim" in p.cmdline]
    assert shims, "no containerd-shim found for the workload's containers"
    for shim in shims:
        words = shim.cmdline.split()
        address = words[words.index("-address") + 1]
        assert host.socket(f"unix://{address}").is_listening, f"nothing listens on {address}"


def test_one_shim_per_container(node, workload):
    snap = capture(node, workload)
    for c in snap.containers:
        shims = [p for p in snap.procs[c.name] if "containerd-shim" in p.cmdline]
        assert len(shims) == 1, f"{c.name}: expected one shim, found {len(shims)}"
        assert c.id in shims[0].cmdline, f"{c.name}: shim does not serve container {c.id[:12]}"


def test_nginx_master_and_workers_running(node, workload):
    snap = capture(node, workload)
    assert len(snap.containers) == len(workload.names)
    for c in snap.containers:
        assert c.running, f"{c.name} is not running"
        cmds = [p.cmdline for p in snap.procs[c.name]]
        if workload.spec.name != SEED:  # another workload: its main process, whatever it is
            assert len(cmds) > 1, f"{c.name}: no process under its shim"
            continue
        assert any("nginx: master" in cmd for cmd in cmds), f"{c.name}: no nginx master"
        assert any("nginx: worker" in cmd for cmd in cmds), f"{c.name}: no nginx worker"


def test_probe_sees_workload_on_every_path(lrm_runner):
    probe = lrm_runner.running.get(PROBE, ProbeRun)
    assert probe is not None, "the probe is not running"
    for name, record in probe.probe.records.items():
        assert not record.setup_error, f"{name} probe could not start: {record.setup_error}"
        assert any(s.ok for s in record.samples), f"no successful request yet on {name}"
