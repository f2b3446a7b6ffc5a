"""The node's own containers on an existing node: recorded before the run, said before the
disruption, started again by the teardown (or by `recover` after a killed run), and
`other_containers_as_before` fails when one cannot be brought back.

On both staging nodes (sysvinit and the booted systemd): two containers of the node's own, one
without a restart policy and one with `--restart always`, run beside the cell's. They are the
node owner's, started from the node's own console, never through the driver under test.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_ssh_driver as ssh
from sshnode import DAEMON_JSON, StagingNode, driver

from conftest import ROOT
from lrmatrix.evidence.other_containers import CHECK_ID
from lrmatrix.workload import image
from prereqs import import_module

import_module("paramiko", 'pip install "lrmatrix[ssh]"')

# the staging node and its per-test reset, shared with the ssh driver's own tests
staging, clean = ssh.staging, ssh.clean

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("short_outage_window")]

OWN_IMAGE = "own/tools:1"  # the node owner's image (the offline nginx tree: busybox sh, sleep)
# PID 1 of the container exits on SIGTERM within a second: stopping it takes no stop timeout
LOOP = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
OWN = {"own-plain": [], "own-always": ["--restart", "always"]}
MOUNT_SOURCE = "/var/lib/own-data"  # on the node's own /var/lib (a tmpfs, or the node's overlay)


def inspect(node: StagingNode, name: str) -> dict:
    return json.loads(node.sh(f"docker inspect {name}"))[0]


@pytest.fixture
def own(clean: StagingNode) -> Iterator[StagingNode]:
    """The node owner's containers, running before the test; removed afterwards."""
    if clean.console(f"docker image inspect {OWN_IMAGE}").returncode != 0:
        data = image.cached_tarball().read_bytes()
        res = clean.console(f"docker import - {OWN_IMAGE}", timeout=300, data=data)
        assert res.returncode == 0, res.stderr.decode()
    for name, flags in OWN.items():
        clean.sh(shlex.join(["docker", "run", "-d", "--name", name, *flags, OWN_IMAGE, *LOOP]))
    try:
        yield clean
    finally:
        clean.sh(clean.ENSURE_DOCKER)
        clean.wait_docker()
        clean.sh("docker ps -aq --filter name=^own- | xargs -r docker rm -f")
        clean.sh(f"rm -rf {MOUNT_SOURCE}")


def run(node: StagingNode, cell: str, results: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    res = ssh.run_cell(cell, node.spec, results, node.client_env(), "--allow-disruption")
    return res, json.loads((results / f"{cell}.json").read_text())


def checks(result: dict) -> dict[str, dict]:
    return {c["id"]: c for c in result["checks"]}


CASES = {
    # case: (cell, daemon.json before the run, what the run says before the disruption)
    # no daemon.json (Debian's docker.io ships none): none again afterwards, also with the
    # restart and the stopped containers of a cell without live-restore
    "noliverestore": ("engine-noliverestore", None, "without live-restore, stopping dockerd stops"),
    # daemon.json names live-restore: both reloads switch it, nothing goes down
    "liverestore": ("engine-liverestore", b'{"live-restore": false}\n', None),
    # no daemon.json (Debian's default): the teardown's reload names the key for a moment, to give
    # live-restore back without a restart (a restart would stop every container)
    "liverestore-no-daemon-json": ("engine-liverestore", None, None),
}


@pytest.mark.parametrize("case", CASES)
def test_the_nodes_own_containers_are_running_again_and_said(own, tmp_path, case):
    cell, daemon_json, notice = CASES[case]
    if daemon_json is not None:
        own.write(DAEMON_JSON, daemon_json)
    before = {name: inspect(own, name) for name in OWN}

    res, result = run(own, cell, tmp_path / "results")

    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    after = {name: inspect(own, name) for name in OWN}
    # seen from the node's own console: both run
    assert all(after[n]["State"]["Running"] for n in OWN), {n: after[n]["State"] for n in OWN}
    check = checks(result)[CHECK_ID]
    assert check["passed"], check["detail"]
    assert checks(result)["node_left_clean"]["passed"], checks(result)["node_left_clean"]["detail"]
    record = result["other_containers"]
    assert [c["name"] for c in record["before"]] == ["own-always", "own-plain"]
    # daemon.json as it was, seen from the node's console: none again where Debian ships none
    assert own.read(DAEMON_JSON) == daemon_json
    findings = "\n".join(result["findings"])
    kept = all(after[n]["State"]["Pid"] == before[n]["State"]["Pid"] for n in OWN)
    if notice is None:  # live-restore on, switched by reloads: untouched, and said so
        assert kept, "a container of the node's own got a new process"
        assert "own-always, own-plain kept running with the same PIDs" in findings, findings
        assert record["notice"] is None and record["started_again"] == {}
        assert "stops the node's own running containers" not in res.stdout
        assert "the node's own containers:" not in res.stdout
        # the node's live-restore given back by a reload
        assert record["teardown_restarted"] is False
        assert own.sh("docker info --format '{{.LiveRestoreEnabled}}'").strip() == "false"
        return
    # said before the disruption: in the terminal, and in the result
    line = next(ln for ln in res.stdout.splitlines() if notice in ln)
    assert "own-always (restart always)" in line and "own-plain (no restart policy)" in line, line
    assert record["notice"] is not None and notice in record["notice"]
    assert sorted(record["will_go_down"]) == ["own-always", "own-plain"]
    assert not kept
    # the one without a restart policy was exited, and the teardown started it again
    assert record["started_again"] == {"own-plain": ""}, record
    assert "own-plain (no restart policy) was running before the run and exited after it" in findings
    assert "the teardown started own-plain again (docker start)" in findings
    # the one with --restart always came back by its policy, with a new PID: said, not failed
    assert after["own-always"]["State"]["Pid"] != before["own-always"]["State"]["Pid"]
    assert "own-always (restart always) runs with a new process" in findings, findings
    assert "started again (docker start): own-plain" in check["detail"]
    assert "running again with a new process: own-always" in check["detail"]
    assert "the node's own containers: " in res.stdout, "no line in the terminal summary"
    assert record["teardown_restarted"] is False
    print(f"\n{case}: {line.strip()}\n{check['detail']}\n" + "\n".join(result["findings"][-4:]))


def test_a_container_that_cannot_be_started_again_fails_the_run(own, tmp_path):
    """A container of the node's own whose bind-mount source is gone runs on until something
    stops it, and then cannot start: the disruption stops it, the teardown's `docker start`
    fails, the check says why and the run exits 1; the verdict itself is untouched."""
    own.sh(f"mkdir -p {MOUNT_SOURCE}")
    mount = f"type=bind,source={MOUNT_SOURCE},target=/data"
    own.sh(shlex.join(["docker", "run", "-d", "--name", "own-mounted", "--mount", mount, OWN_IMAGE, *LOOP]))
    own.sh(f"rm -rf {MOUNT_SOURCE}")  # the owner cleaned up a folder still in use
    assert inspect(own, "own-mounted")["State"]["Running"]

    res, result = run(own, "engine-noliverestore", tmp_path / "results")

    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-4000:]
    assert result["verdict"]["passed"], result["verdict"]
    check = checks(result)[CHECK_ID]
    assert not check["passed"]
    assert check["detail"].startswith("not running again: own-mounted is exited: docker start failed: "), (
        check
    )
    assert MOUNT_SOURCE in check["detail"], check["detail"]
    assert f"teardown {CHECK_ID}: not running again: own-mounted" in res.stdout
    assert any("could not start own-mounted again" in f for f in result["findings"]), result["findings"]
    # the others are back; nothing lrmatrix made is left
    assert all(inspect(own, n)["State"]["Running"] for n in OWN)
    assert checks(result)["node_left_clean"]["passed"], checks(result)["node_left_clean"]["detail"]
    assert own.read(DAEMON_JSON) is None, "a failed run left a daemon.json on a node that had none"
    print(f"\n{check['detail']}")


def test_recover_starts_the_nodes_own_containers_again(own):
    """A run killed with dockerd down (no live-restore): the change record on the node holds
    the node's own containers, and `recover` starts the one without a restart policy again."""
    first = driver(own, "engine-noliverestore")
    first.sanity_checks()
    first.create()
    stored = json.loads(first.read_file(first.record_path) or b"{}")
    assert [c["name"] for c in stored["other_containers"]["before"]] == ["own-always", "own-plain"]
    first.stop_daemon("SIGTERM")
    # now let the record name a harness that has died, as after a SIGKILL
    dead = subprocess.Popen(["true"])
    dead.wait()
    stored["harness"]["pid"] = dead.pid
    first.write_file(first.record_path, json.dumps(stored).encode())
    first.close()
    own.sh(own.ENSURE_DOCKER)  # as the owner would find it: dockerd back, own-plain exited
    own.wait_docker()
    assert inspect(own, "own-plain")["State"]["Status"] == "exited"

    argv = [sys.executable, "-m", "lrmatrix", "recover", "--node", own.spec, "--allow-disruption"]
    res = subprocess.run(argv, cwd=ROOT, env=own.client_env(), capture_output=True, text=True, timeout=120)

    assert res.returncode == 0, res.stdout + res.stderr
    assert "started again (docker start): own-plain" in res.stdout, res.stdout
    assert all(inspect(own, n)["State"]["Running"] for n in OWN)
    assert own.read(f"{DAEMON_JSON}.lrmatrix-absent") is None
