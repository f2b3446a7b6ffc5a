"""The ssh driver's systemd path on a booted systemd (systemdnode.py), and what systemd does to
a stopped or crashed dockerd: the docker.socket trap, Restart=on-failure, holding the unit down.

Each fact is checked from the node's own console (systemctl, the journal, pidof), not only
through the driver under test. The engine cells themselves run on this node in
test_ssh_driver.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from sshnode import Sample, driver
from systemdnode import SystemdNode, why_not_ready

from conftest import ROOT
from lrmatrix.cli.main import cell_argv
from lrmatrix.deadline import poll
from lrmatrix.modules.dockerd import DAEMON_DOWN
from prereqs import import_module, needs

import_module("paramiko", 'pip install "lrmatrix[ssh]"')

pytestmark = [
    pytest.mark.integration,
    pytest.mark.systemd_node,
    needs(why_not_ready() and f"systemd staging node: {why_not_ready()}"),
]


def test_teardown_leaves_nothing_on_this_machine():
    """PID namespace, mounts, network namespace, veth, cgroups: all gone (before the module's node)."""
    with SystemdNode.running() as node:
        assert node.sh("cat /proc/1/comm").strip() == "systemd"
        assert [d for d in node.cgroup_dirs if d.exists()], "the node has no cgroups of its own"
        assert node.residue(), "residue() cannot see a live node"
    assert node.proc is not None and node.proc.returncode is not None
    assert node.residue() == []


@pytest.fixture(scope="module")
def booted() -> Iterator[SystemdNode]:
    with SystemdNode.running() as node:
        yield node


@pytest.fixture
def node(booted: SystemdNode) -> Iterator[SystemdNode]:
    """Docker as after boot: both units active, nothing masked, systemd logging at info, and
    nothing left by a test that failed half-way."""
    booted.sh("rm -rf /var/lib/lrmatrix /etc/docker/daemon.json*")
    booted.sh(booted.ENSURE_DOCKER)
    booted.wait_docker()
    yield booted
    booted.console("systemd-analyze log-level info")


def active(node: SystemdNode, *units: str) -> list[str]:
    return node.console(f"systemctl is-active {' '.join(units)}").stdout.decode().split()


def held_down(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """Samples in [start, end] that saw dockerd or an active docker.service."""
    return [s for s in samples if start <= s.at <= end and (s.pids or s.state == "active")]


def test_systemd_boots_with_docker_units_and_no_sftp(node):
    assert node.sh("cat /proc/1/comm").strip() == "systemd"
    # the tree is the mount namespace's root (pivot_root): nothing of this machine's / is left in it
    # (under a chroot the first mount would be this machine's root file system)
    first = node.sh("head -1 /proc/1/mountinfo").split()
    assert first[4] == "/" and first[first.index("-") + 1] == "overlay", first
    assert node.sh("systemctl is-system-running || true").strip() in ("running", "degraded")
    assert active(node, "docker.socket", "docker.service", "ssh.service") == ["active"] * 3
    unit = node.unit("docker.service", "Restart", "TriggeredBy")
    assert unit == {"Restart": "on-failure", "TriggeredBy": "docker.socket"}
    ssh = driver(node)
    try:
        ssh.sanity_checks()
        assert ssh.manager is not None and ssh.manager.name == "systemd"
        # the driver read and wrote files above without SFTP: the node has no such subsystem
        with pytest.raises(paramiko.SSHException):
            ssh.transport.client.open_sftp()
    finally:
        ssh.close()


def test_stopping_only_docker_service_leaves_the_socket_to_wake_dockerd(node):
    """The seed's trap, for real: `systemctl stop docker` warns, docker.socket keeps listening,
    and the first client (here the same `docker ps` an outage check runs) starts dockerd again.
    systemd's debug log names who woke it: incoming traffic on docker.socket."""
    ssh = driver(node)
    try:
        ssh.sanity_checks()
        ssh._journal_cursor = ssh._journal_mark()
        stopped = node.console("systemctl stop docker.service")
        assert b"can still be activated by" in stopped.stderr and b"docker.socket" in stopped.stderr
        assert ssh.daemon_pid() is None and node.dockerd_pids() == []
        assert active(node, "docker.socket") == ["active"]
        assert ssh.dockerd.socket_listening(), "systemd holds docker.sock open for docker.service"
        # the outage watch's check sees the listener, and does not wake dockerd by looking
        assert ssh.daemon_up() == "something listens on /var/run/docker.sock"
        assert node.dockerd_pids() == [] and ssh.why_up_again() is None
        node.sh("systemd-analyze log-level debug")

        woke = ssh.dockerd.cli("ps")

        assert woke.ok, "docker ps did not start dockerd through docker.socket"
        assert ssh.daemon_pid() is not None
        why = ssh.why_up_again()
        assert why is not None and "with docker.socket listening" in why and "socket activation" in why, why
        debug = node.sh("journalctl -u docker.socket -o cat --no-pager")
        assert "docker.socket: Incoming traffic" in debug
    finally:
        ssh.close()


def test_the_driver_stops_both_units_and_dockerd_stays_down(node):
    """The normal cells' stop: no listener is left, and a client gets "cannot connect"."""
    ssh = driver(node)
    try:
        ssh.sanity_checks()
        with node.watch_dockerd() as samples:
            ssh.stop_daemon("SIGTERM")
            gone = time.time()
            assert active(node, "docker.socket", "docker.service") == ["inactive", "inactive"]
            assert not ssh.dockerd.socket_listening()
            res = ssh.dockerd.cli("ps")
            assert not res.ok and DAEMON_DOWN in res.stderr
            time.sleep(2)  # a window it must stay down in: absence is shown over time, not awaited
            end = time.time()
            assert ssh.why_up_again() is None
        assert [s for s in samples if gone <= s.at <= end], "the console saw nothing in the window"
        assert held_down(samples, gone, end) == []
        # someone else starts it: with the socket closed, no client could have
        node.sh("systemctl start docker.service")
        why = ssh.why_up_again()
        assert why is not None and "by something other than lrmatrix" in why, why
        assert active(node, "docker.socket", "docker.service") == ["active", "active"]
    finally:
        ssh.close()


def test_systemd_restarts_a_killed_dockerd_by_itself(node):
    """Restart=on-failure, measured: what a crash on a systemd node really is, and the sentence
    the driver gives when the daemon comes back (the verdict's error reason)."""
    ssh = driver(node)
    try:
        ssh.sanity_checks()
        ssh._journal_cursor = ssh._journal_mark()
        killed = ssh.daemon_pid()
        restarts = int(node.unit("docker.service", "NRestarts")["NRestarts"])
        t0 = time.monotonic()
        node.sh(f"kill -KILL {killed}")
        assert poll(ssh.dockerd.api_ready, 60, 0.1), "systemd did not restart dockerd within 60 s"
        answered = time.monotonic() - t0
        assert ssh.daemon_pid() not in (None, killed)
        assert int(node.unit("docker.service", "NRestarts")["NRestarts"]) == restarts + 1
        why = ssh.why_up_again()
        assert why is not None and why.startswith("systemd restarted dockerd "), why
        print(f"\n{why}; its API answered {answered:.1f} s after the kill")
    finally:
        ssh.close()


def test_crash_variant_holds_the_unit_down_for_the_window(node):
    """The crash cell's semantics on systemd: SIGKILL, and docker.service masked (runtime) from
    before the kill until the start, so Restart=on-failure cannot end the window early."""
    ssh = driver(node)
    try:
        ssh.sanity_checks()
        ssh.create()
        killed = ssh.daemon_pid()
        with node.watch_dockerd() as samples:
            ssh.stop_daemon("SIGKILL")
            gone = time.time()
            record = json.loads(node.read(ssh.record_path) or b"{}")
            assert record["held_down"] is True, "a run killed now would leave the unit masked"
            time.sleep(3)  # systemd restarts after 100 ms (RestartSec) when nothing holds it
            end = time.time()
            assert ssh.daemon_pid() is None and ssh.why_up_again() is None
            ssh.start_daemon()
        assert held_down(samples, gone, end) == []
        journal = node.sh(f"journalctl _PID=1 -o cat --no-pager --after-cursor '{ssh._journal_cursor}'")
        assert "Main process exited, code=killed, status=9/KILL" in journal
        assert "Scheduled restart job" not in journal
        assert ssh.daemon_pid() not in (None, killed)
        assert node.sh("systemctl is-enabled docker.service").strip() == "enabled"
        ssh.destroy()
        assert ssh.residue() == []
    finally:
        ssh.close()


def test_recover_unmasks_after_a_crash_run_killed_mid_outage(node):
    """The harness died while the unit was held down: `recover --node` unmasks and starts it."""
    ssh = driver(node)
    ssh.sanity_checks()
    ssh.create()
    ssh.stop_daemon("SIGKILL")
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = json.loads(ssh.read_file(ssh.record_path) or b"{}")
    record["harness"]["pid"] = dead.pid  # as after a SIGKILL of the harness
    ssh.write_file(ssh.record_path, json.dumps(record).encode())
    ssh.close()
    assert node.sh("systemctl is-enabled docker.service || true").strip() == "masked-runtime"

    res = subprocess.run(
        [sys.executable, "-m", "lrmatrix", "recover", "--node", node.spec, "--allow-disruption"],
        cwd=ROOT,
        env=node.client_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert res.returncode == 0, res.stdout + res.stderr
    assert node.sh("systemctl is-enabled docker.service").strip() == "enabled"
    assert active(node, "docker.socket", "docker.service") == ["active", "active"]
    assert node.read(ssh.record_path) is None
    assert driver(node).residue() == []


def test_a_loopback_node_address_is_said_before_the_run_and_in_the_verdict(node, tmp_path):
    """Through a real run: the caveat line before the run, an event, and an outage on the node
    path reported as inconclusive with the reason, never as the engine's failure."""
    results = tmp_path / "results"
    env = node.client_env(PYTHONPATH=str(Path(__file__).parent))
    argv = cell_argv("engine-noliverestore", results, "--node", node.spec, "--allow-disruption")
    res = subprocess.run([*argv, "-p", "pretend_loopback"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip

    assert "lrmatrix: caveat: the node address" in res.stdout, res.stdout[-3000:]
    result = json.loads((results / "engine-noliverestore.json").read_text())
    assert [e["name"] for e in result["events"]].count("caveat") == 1
    verdict = result["verdict"]
    assert verdict["observed"] == "inconclusive", verdict
    assert verdict["reason"].startswith("the node address") and "docker-proxy" in verdict["reason"]
    assert res.returncode == 1, "a cell that cannot show its expectation must not pass"
