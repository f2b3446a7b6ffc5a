"""Every node check of lrmatrix.infra_tests fails on a real engine node put in the wrong state.

A check that cannot fail is a defect: each one here is called, as the cell run calls it,
against a real node (real dockerd, containers, namespace) that is in the state the check
must reject. The few checks that judge what the scenario recorded rather than the node
(the paths answering again, the verdict) are given that record in its failing form; the
page docs/how-a-cell-runs.md lists which is which. Kubernetes checks are tested against the
fake API elsewhere.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import testinfra.host

from conftest import engine_ready
from lrmatrix.deadline import poll
from lrmatrix.evidence.probe import Probe, Target
from lrmatrix.evidence.records import Deployed, Recovered, Stopped
from lrmatrix.evidence.store import Evidence
from lrmatrix.evidence.verdict import Verdict
from lrmatrix.run.background import PROBE, ProbeRun
from lrmatrix.run.context import Running
from lrmatrix.run.runner import Runner
from lrmatrix.workload.snapshot import capture
from lrmatrix.workload.spec import Image
from prereqs import needs
from test_evidence_engine import scenario_on_engine

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]

baseline = importlib.import_module("lrmatrix.infra_tests.test_1_baseline")
disrupt = importlib.import_module("lrmatrix.infra_tests.test_2_disrupt")
after = importlib.import_module("lrmatrix.infra_tests.test_3_after")
change = importlib.import_module("lrmatrix.infra_tests.test_4_change")
verdict = importlib.import_module("lrmatrix.infra_tests.test_5_verdict")


def fails(check: Callable[..., Any], *args: Any) -> None:
    with pytest.raises(AssertionError):
        check(*args)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """One engine-liverestore scenario at its baseline, shared: the tests below run in file
    order, first with the daemon up, then with it down, each putting back what it changed."""
    state = tmp_path_factory.mktemp("s")
    with scenario_on_engine({"LRMATRIX_STATE_DIR": str(state / "s")}, state / "results") as scenario:
        yield scenario


@pytest.fixture(scope="module")
def host(live: Runner) -> testinfra.host.Host:
    return live.node.testinfra_host()


def rewrite_daemon_json(live: Runner, change: Callable[[dict[str, Any]], None]) -> bytes:
    path = live.node.daemon_json_path
    original = Path(path).read_bytes()
    config = json.loads(original)
    change(config)
    Path(path).write_text(json.dumps(config))
    return original


# --- with the daemon up ----------------------------------------------------------------------
def test_daemon_json_checks_fail_on_a_missing_or_changed_file(live, host):
    node, cell, path = live.node, live.cell, Path(live.node.daemon_json_path)
    path.rename(path.with_suffix(".away"))
    try:
        fails(baseline.test_daemon_json_exists_and_parses, host, node)
    finally:
        path.with_suffix(".away").rename(path)
    original = rewrite_daemon_json(live, lambda c: c.update({"live-restore": not cell.live_restore}))
    try:
        fails(baseline.test_daemon_json_live_restore_is_cell_value, host, node, cell)
    finally:
        path.write_bytes(original)
    original = rewrite_daemon_json(live, lambda c: c.update({"debug": True}))
    try:
        fails(baseline.test_daemon_json_other_keys_preserved, host, node, live.evidence)
    finally:
        path.write_bytes(original)
    baseline.test_daemon_json_other_keys_preserved(host, node, live.evidence)  # and passes when right


def test_effective_setting_checks_fail_when_the_daemon_runs_with_the_other_value(live, host):
    other = replace(live.cell, live_restore=not live.cell.live_restore)
    fails(baseline.test_effective_live_restore_matches, host, other)
    fails(after.test_effective_live_restore_unchanged, live.node, other)
    baseline.test_effective_live_restore_matches(host, live.cell)


def workload_of(live: Runner) -> Any:
    return live.evidence.require(Deployed).workload


def test_container_checks_fail_on_a_stopped_container(live, host):
    node, workload = live.node, workload_of(live)
    before = capture(node, workload)
    node.dockerd.cli_ok("stop", "-t", "1", "lrm-web-2")
    try:
        fails(baseline.test_one_shim_per_container, node, workload)
        fails(baseline.test_nginx_master_and_workers_running, node, workload)
        fails(after.test_same_containers_back, before, capture(node, workload), live.cell)
        probe = Probe({"node": [Target(f"http://{node.address}:8082/health", "healthy")]}, 0.05, 0.5)
        probe.start()
        assert poll(lambda: probe.records["node"].samples, 10, 0.05), "the probe sent nothing"
        running = Running()
        running.start(PROBE, ProbeRun(probe, time.time()))
        try:
            fails(baseline.test_probe_sees_workload_on_every_path, SimpleNamespace(running=running))
        finally:
            running.stop_all()
    finally:
        node.dockerd.cli_ok("start", "lrm-web-2")
    baseline.test_one_shim_per_container(node, workload)


def test_process_checks_fail_on_replaced_or_surviving_processes(live):
    node, workload = live.node, workload_of(live)
    before = capture(node, workload)
    # without live-restore they must go
    fails(disrupt.test_container_processes_kept_or_gone, node, before, replace(live.cell, live_restore=False))
    node.dockerd.cli_ok("restart", "-t", "1", "lrm-web-1")
    fails(after.test_container_processes_kept_or_restarted, before, capture(node, workload), live.cell)
    fails(disrupt.test_container_processes_kept_or_gone, node, before, live.cell)


def test_outage_checks_fail_while_the_daemon_runs(live, host):
    node = live.node
    stopped = Evidence()
    stopped.add(Stopped(0.0, 0.0, node.daemon_pid(), "SIGTERM"))
    fails(disrupt.test_dockerd_exited, node, stopped)
    fails(disrupt.test_dockerd_is_gone, node)
    fails(disrupt.test_api_socket_refuses, host, node)
    for command in ("docker ps", "docker exec lrm-web-1 true", "docker logs lrm-web-1"):
        fails(disrupt.test_docker_cli_cannot_connect, host, workload_of(live), command)


def test_change_check_fails_when_the_config_was_not_changed(live, monkeypatch):
    """Nothing was changed, so no wait would see it: 2 s of the check's 10 s wait show that."""
    monkeypatch.setattr(change, "CHANGE_WAIT_S", 2.0)
    endpoint = change.UPDATED_ENDPOINTS[2]
    fails(change.test_updated_response_on_node_path, workload_of(live), live.node, live.cell, endpoint)


def test_checks_of_the_recorded_outcome_fail_on_a_failing_record(live):
    """These judge what the scenario recorded (the paths' wait after the start, the verdict)."""
    unanswered = Evidence()
    unanswered.add(Recovered({"node": False, "loopback": False}))
    fails(after.test_node_path_answers_again, unanswered, live.cell)
    fails(after.test_loopback_path_answers_again, unanswered)
    wrong = Verdict("survive", "outage", "3/100 requests failed while down")
    fails(verdict.test_verdict_matches_expectation, SimpleNamespace(verdict=wrong))
    cell = replace(live.cell, expect_paths={"loopback": "survive"})
    fails(verdict.test_access_path_expectations, cell, SimpleNamespace(paths={"loopback": wrong}))


def test_a_users_image_without_true_is_created_and_removed_not_run(live, host, tmp_path):
    """A distroless image of the user's holds no `true`: `docker run IMAGE true` would fail on
    the image, not on the daemon, so for an image not built by a recipe the check creates and
    removes a container without starting it (and still fails while dockerd is down, below)."""
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "hostname").write_text("no-true\n")
    tar = tmp_path / "no-true.tar"
    subprocess.run(["tar", "-C", str(tmp_path / "root"), "-cf", str(tar), "."], check=True)
    assert host.run(f"docker import {tar} lrm-notrue:1").rc == 0
    try:
        theirs = user_image(workload_of(live), "lrm-notrue:1")
        assert host.run("docker run --rm lrm-notrue:1 true").rc != 0  # no `true` in it
        after.test_new_container_created_and_removed(host, theirs, live.cell)
    finally:
        host.run("docker rmi lrm-notrue:1")


def user_image(workload: Any, ref: str) -> Any:
    """The workload as if its image were a user's ``ref`` (no recipe)."""
    theirs = copy.copy(workload)
    theirs.spec = replace(workload.spec, image=Image(ref=ref))
    theirs.image = ref
    return theirs


# --- with the daemon down --------------------------------------------------------------------
def test_checks_that_need_the_daemon_fail_while_it_is_down(live, host):
    workload = workload_of(live)
    snap = capture(live.node, workload)
    live.node.stop_daemon("SIGTERM")
    fails(baseline.test_dockerd_running, host, live.node)
    fails(after.test_api_answers, host)
    fails(after.test_new_container_created_and_removed, host, workload, live.cell)
    fails(after.test_new_container_created_and_removed, host, user_image(workload, workload.image), live.cell)
    fails(change.test_logs_readable_after_restart, host, workload, live.cell)
    # live-restore keeps the shims, but the containerd they talk to exited with dockerd
    as_before = SimpleNamespace(snapshot=lambda: snap.containers)  # the API is down: what it said
    fails(baseline.test_containerd_serves_the_shims, host, live.node, as_before)
    disrupt.test_container_processes_kept_or_gone(live.node, snap, live.cell)
    master = next(p for p in snap.procs["lrm-web-2"] if "nginx: master" in p.cmdline)
    os.kill(master.pid, signal.SIGKILL)  # a container process dies while the daemon is down
    subprocess.run(["timeout", "10", "tail", f"--pid={master.pid}", "-f", "/dev/null"], check=False)
    fails(disrupt.test_container_processes_kept_or_gone, live.node, snap, live.cell)


def test_dockerd_is_gone_sees_a_dockerd_the_driver_did_not_start(live):
    """The second assertion: the driver knows no pid (its own dockerd is gone), yet a dockerd
    for the node runs: started by someone else, as an init script would."""
    node = live.node
    assert node.daemon_pid() is None
    stranger = subprocess.Popen(["nsenter", f"--net={node.slot.netns_path}", *node.dockerd_argv()],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        node.dockerd.wait_api(30)
        assert node.daemon_pid() is None  # the first assertion cannot see it
        fails(disrupt.test_dockerd_is_gone, node)
    finally:
        stranger.send_signal(signal.SIGTERM)
        stranger.wait(30)
