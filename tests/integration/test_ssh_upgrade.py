"""A real package upgrade as a cell, on the booted systemd node through the ssh driver: Debian
12's docker.io 20.10.24 to Debian 13's 26.1.5 with containerd 1.7.24 and the CLI (Debian 13
ships it as a separate docker-cli package).

The cells are the matrix's own (``engine-*-pkgupgrade26``): the harness stages the .debs
(the node has no route to a mirror), the cell's commands run on the node with the workload
up and the probe running, and the result says what Debian's maintainer scripts and the
restart did, read from the node's journal and a process timeline. Each run gets a node of
its own: an upgrade is not undone.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshnode import DAEMON_JSON, SEEDED
from systemdnode import SystemdNode, why_not_ready

from conftest import ROOT
from lrmatrix.cli.main import cell_argv
from lrmatrix.deadline import poll
from prereqs import import_module, needs

import_module("paramiko", 'pip install "lrmatrix[ssh]"')

pytestmark = [
    pytest.mark.integration,
    pytest.mark.systemd_node,
    needs(why_not_ready() and f"systemd staging node: {why_not_ready()}"),
]


@pytest.fixture
def node() -> Iterator[SystemdNode]:
    """A node of its own: the upgrade is not undone."""
    with SystemdNode.running() as fresh:
        yield fresh


def timeline(path: Path) -> str:
    """A failed cell's events and node-path windows, for the assertion message: pytest's temp
    folder holding the result is gone by the time a CI log is read (a CI run once saw 4
    requests fail at +13.7 s of this cell, and the result that would have said when dockerd
    started was lost)."""
    if not path.is_file():
        return ""
    result = json.loads(path.read_text())
    events = [f"{e['t']:.3f} {e['name']}: {e.get('detail', '')}" for e in result.get("events", [])]
    windows = result.get("probes", {}).get("node", {}).get("windows")
    return "\nevents:\n" + "\n".join(events) + f"\nnode windows: {windows}"


def units(step: dict) -> list[str]:
    return [message for _, message in step["units"]]


@pytest.mark.parametrize(
    ("cell", "observed"),
    [("engine-liverestore-pkgupgrade26", "survive"), ("engine-noliverestore-pkgupgrade26", "outage")],
)
def test_package_upgrade_20_to_26_as_a_cell(node, tmp_path, cell, observed):
    results = tmp_path / "results"
    node.write(DAEMON_JSON, SEEDED)
    node.sh("systemctl restart docker.service")
    node.wait_docker()
    assert node.sh("dpkg-query -W -f '${Version}' docker.io").startswith("20.10.24")
    argv = cell_argv(cell, results, "--node", node.spec, "--allow-disruption", "-q")

    res = subprocess.run(argv, cwd=ROOT, env=node.client_env(), capture_output=True, text=True, timeout=900)

    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:] + timeline(results / f"{cell}.json")
    result = json.loads((results / f"{cell}.json").read_text())
    assert result["verdict"]["observed"] == observed, result["verdict"]
    failed = [c for c in result["checks"] if not c["passed"]]
    assert failed == [], failed
    assert result["engine"]["before"]["docker"].startswith("20.10.24")
    assert result["engine"]["after"]["docker"].startswith("26.1.5")
    upgrade = result["upgrade"]
    assert len(upgrade["staged"]) == 3, upgrade["staged"]  # docker.io, containerd, docker-cli
    install, restart = upgrade["steps"]
    assert install["rc"] == restart["rc"] == 0
    # Debian's maintainer scripts restart containerd.service and leave docker.service alone;
    # the old dockerd answers until the restart, which brings up 26.1
    assert any(m.startswith("Stopped containerd.service") for m in units(install)), units(install)
    assert any(m.startswith("Started containerd.service") for m in units(install)), units(install)
    assert not [m for m in units(install) if "docker.service" in m or "docker.socket" in m]
    assert any(m.startswith("Started docker.service") for m in units(restart)), units(restart)
    start, end = restart["started_at"], restart["started_at"] + restart["seconds"]
    assert start <= upgrade["dockerd_gone_at"] <= end + 0.5
    # "while down" ends at the new dockerd's start, read from its /proc: not before the old one
    # was last seen, nor after a sample first saw it (that scan's round trip aside)
    (_, _, old_last_seen), *_ = upgrade["timeline"]["processes"]["dockerd"]
    assert old_last_seen <= upgrade["dockerd_started_at"] <= end + 0.5
    scan = upgrade["timeline"]["longest_gap_s"]
    assert upgrade["dockerd_started_at"] <= upgrade["dockerd_first_seen_at"] + scan, upgrade
    assert upgrade["timeline"]["samples"] >= 20
    notes = result["findings"]
    # its /proc was read: a lower bound, early by the read's round trip (on a loaded machine
    # that may be more than the sample without it, which then bounds the start)
    new_pid = upgrade["timeline"]["processes"]["dockerd"][1][0]
    [(pid, proc_start)] = upgrade["dockerd_proc_starts"]
    assert pid == new_pid and start - 1.0 < proc_start <= upgrade["dockerd_started_at"], upgrade
    assert any(n.startswith("upgrade step 1") and "dockerd" in n and "kept" in n for n in notes), notes
    assert any(n.startswith("dockerd replaced by the upgrade") for n in notes), notes
    assert result["containers"]["pids_kept"] is (observed == "survive")
    # from the node's own console: upgraded, and the run's own changes undone
    assert node.sh("dpkg-query -W -f '${Version}' docker.io").startswith("26.1.5")
    assert node.read(DAEMON_JSON) == SEEDED
    assert node.sh("ls /var/lib/lrmatrix 2>/dev/null || true").strip() == ""
    log = (results / f"{cell}.upgrade.log").read_text()
    assert "Setting up docker.io (26.1.5" in log, log[-2000:]
    print(f"\n{cell}: {result['verdict']['reason']}\n  " + "\n  ".join(notes))


def test_an_upgrade_interrupted_mid_install_is_let_finish(node, tmp_path):
    """Ctrl-C while apt-get installs: the package manager is never killed half-way (the node's
    packages would be broken); the teardown waits for it, then restores daemon.json."""
    cell = "engine-liverestore-pkgupgrade26"
    node.write(DAEMON_JSON, SEEDED)
    node.sh("systemctl restart docker.service")
    node.wait_docker()
    argv = cell_argv(cell, tmp_path / "results", "--node", node.spec, "--allow-disruption", "-q")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=node.client_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # the first command's folder appears when it is launched; apt-get takes seconds more
        started = poll(
            lambda: (
                node.sh(f"test -d /var/lib/lrmatrix/{cell}/upgrade/1 && echo yes || true").strip() == "yes"
            ),
            300,
            0.2,
        )
        assert started, "the upgrade command never started"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert "still runs on" in out and "waiting up to" in out, out[-3000:]
    result = json.loads((tmp_path / "results" / f"{cell}.json").read_text())
    assert result["verdict"]["observed"] == "interrupted"
    assert "while the upgrade commands ran" in result["verdict"]["reason"]
    assert [s["rc"] for s in result["upgrade"]["steps"]] == [0], result["upgrade"]["steps"]
    # the package manager finished: installed, nothing half-configured
    assert node.sh("dpkg-query -W -f '${Version}' docker.io").startswith("26.1.5")
    assert node.sh("dpkg --audit").strip() == ""
    assert node.read(DAEMON_JSON) == SEEDED
    checks = {c["id"]: c for c in result["checks"]}
    assert checks["node_left_clean"]["passed"], checks["node_left_clean"]["detail"]


def test_recover_waits_for_an_upgrade_a_killed_run_left_running(node, tmp_path):
    """The harness SIGKILLed mid-install: its upgrade command goes on on the node, and
    `recover` refuses (exit 2, the node untouched) until it has ended, then undoes the run."""
    cell = "engine-liverestore-pkgupgrade26"
    node.write(DAEMON_JSON, SEEDED)
    node.sh("systemctl restart docker.service")
    node.wait_docker()
    step = f"/var/lib/lrmatrix/{cell}/upgrade/1"
    argv = cell_argv(cell, tmp_path / "results", "--node", node.spec, "--allow-disruption", "-q")
    harness = subprocess.Popen(
        argv, cwd=ROOT, env=node.client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert poll(lambda: node.sh(f"test -e {step}/pid && echo yes || true").strip() == "yes", 300, 0.1)
    finally:
        harness.kill()
        harness.wait()

    def recover() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "lrmatrix", "recover", "--node", node.spec, "--allow-disruption"]
        return subprocess.run(
            argv, cwd=ROOT, env=node.client_env(), capture_output=True, text=True, timeout=120
        )

    refused = recover()
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "still runs on" in refused.stderr and "apt-get install" in refused.stderr, refused.stderr
    assert node.read(f"{DAEMON_JSON}.lrmatrix-backup") is not None, "a refusal changed the node"
    assert poll(lambda: node.read(f"{step}/rc") is not None, 600, 0.5), "the upgrade never ended"
    recovered = recover()
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert node.read(DAEMON_JSON) == SEEDED
    assert node.sh("ls /var/lib/lrmatrix 2>/dev/null || true").strip() == ""
    assert node.sh("dpkg --audit").strip() == ""
