"""Observe mode on the staging nodes: the user's own containers are the workload, and the run
leaves them as they were.

The "user" starts two small web servers on the node from its own console (busybox httpd from the
offline nginx tree, each published on a node port of its own, labelled team.app=web), beside
the node's other containers of test_ssh_other_containers (own-plain, own-always). The harness
observes the two by their label: no image loaded, no container made; at the end the same IDs,
PIDs and restart counts, still running, and the probe's samples name each one by its port.
The refusals exit 2 with one line before anything on the node changes.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_ssh_driver as ssh
import test_ssh_other_containers as others
from sshnode import DAEMON_JSON, StagingNode, driver

from conftest import ROOT
from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError

pytestmark = pytest.mark.integration
SYSV_ONLY = ssh.SYSV_ONLY

# the other containers' fixtures: the node's own containers, on a clean staging node
staging, clean, own = ssh.staging, ssh.clean, others.own

LABEL = "team.app=web"
#: name -> (node port, restart policy flags)
WEB = {"web-a": (18081, ["--restart", "always"]), "web-b": (18082, [])}
# PID 1 is a shell that exits on SIGTERM (a process as PID 1 without a handler ignores it, and
# dockerd would wait out the stop timeout); the server is its child
SERVE = (
    "mkdir -p /www && echo served-by-$0 > /www/index.html && trap 'exit 0' TERM; "
    "busybox httpd -f -p 80 -h /www & wait"
)
OBSERVE = """
[workloads.userweb]
description = "the user's two web servers, already running"
observe = {{ {selector} }}
endpoints = [
  {{ path = "/", port = 18081, body = "served-by-web-a" }},
  {{ path = "/", port = 18082, body = "served-by-web-b" }},
  {{ protocol = "tcp", port = 18081 }},
]

[cells.engine-liverestore-observe]
workload = "userweb"

[cells.engine-noliverestore-observe]
workload = "userweb"
"""


def matrix(tmp_path: Path, selector: str = f'label = "{LABEL}"') -> dict[str, str]:
    """A copy of the shipped matrix with the observe workload and its two cells."""
    folder = tmp_path / "matrix"
    folder.mkdir()
    for f in (ROOT / "matrix").rglob("*"):
        if f.is_file():
            (folder / f.relative_to(ROOT / "matrix")).parent.mkdir(parents=True, exist_ok=True)
            (folder / f.relative_to(ROOT / "matrix")).write_bytes(f.read_bytes())
    shipped = (folder / "matrix.toml").read_text()
    (folder / "matrix.toml").write_text(shipped + OBSERVE.format(selector=selector))
    return {"LRMATRIX_MATRIX": str(folder)}


@pytest.fixture
def web(own: StagingNode) -> Iterator[StagingNode]:
    """The user's web servers, started from the node's console (never through the harness)."""
    for name, (port, flags) in WEB.items():
        argv = ["docker", "run", "-d", "--name", name, "--label", LABEL, "-p", f"{port}:80", *flags]
        own.sh(shlex.join([*argv, others.OWN_IMAGE, "sh", "-c", SERVE, name]))
    try:
        yield own
    finally:
        own.sh(own.ENSURE_DOCKER)
        own.wait_docker()
        own.sh(f"docker rm -f {' '.join(WEB)}")


def identity(node: StagingNode) -> dict[str, tuple]:
    """What says a container was left as it was: ID, PID, start time, restart count, running."""
    found = {}
    for name in WEB:
        s = others.inspect(node, name)
        found[name] = (
            s["Id"],
            s["State"]["Pid"],
            s["State"]["StartedAt"],
            s["RestartCount"],
            s["State"]["Running"],
        )
    return found


def run(node: StagingNode, cell: str, tmp_path: Path, env: dict[str, str]):
    return ssh.run_cell(cell, node.spec, tmp_path / "results", node.client_env(**env), "--allow-disruption")


def test_a_live_restore_cell_observes_the_users_containers_and_leaves_them_as_they_were(web, tmp_path):
    before = identity(web)
    images = web.sh("docker images -q")

    res = run(web, "engine-liverestore-observe", tmp_path, matrix(tmp_path))

    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert identity(web) == before, "an observed container was changed"
    assert all(state[-1] for state in before.values())
    assert web.sh("docker images -q") == images, "observe mode loaded an image"
    assert web.sh("docker ps -a --filter label=io.lrmatrix.cell --format '{{.Names}}'").strip() == ""
    result = json.loads((tmp_path / "results" / "engine-liverestore-observe.json").read_text())
    assert result["verdict"]["observed"] == "survive" and result["verdict"]["passed"], result["verdict"]
    checks = {c["id"]: c for c in result["checks"]}
    record = result["other_containers"]
    # recorded apart from the node's other containers, which the teardown may start again
    assert [c["name"] for c in record["observed"]] == ["web-a", "web-b"]
    assert [c["restart_policy"] for c in record["observed"]] == ["always", "no"]
    assert "web-a" not in [c["name"] for c in record["before"]]
    assert record["observed_problems"] == []
    check = checks["other_containers_as_before"]
    assert check["passed"] and "observed web-a, web-b: same IDs, PIDs and restart counts" in check["detail"]
    # the probe named each container by its own port; the TCP endpoint too
    node = result["probes"]["node"]
    assert set(node["serving"] or {}) == {"web-a", "web-b"}, node["serving"]
    assert node["sent_while_down"] > 0 and node["failed_while_down"] == 0, node["errors"]
    (said,) = [e["detail"] for e in result["events"] if e["name"] == "identity"]
    assert "/ on node port 18081: web-a" in said and "tcp (connect) on node port 18081: web-a" in said, said
    # the checks that would act on a container skipped, saying why
    skipped = {s["id"]: s["detail"] for s in result["skipped_checks"] or []}
    assert "observe mode" in skipped.get("test_stop_works", ""), skipped
    assert checks["node_left_clean"]["passed"], checks["node_left_clean"]["detail"]
    print(f"\n{check['detail']}\n" + "\n".join(result["findings"][-3:]))


def test_a_selector_that_matches_nothing_is_one_line_and_changes_nothing(web, tmp_path):
    before, state = identity(web), web.state()

    res = run(web, "engine-liverestore-observe", tmp_path, matrix(tmp_path, 'label = "team.app=nothing"'))

    assert (
        "observe: root@" in ssh.one_line_refusal(res)
        and "no container labelled team.app=nothing" in res.stderr
    )
    assert (identity(web), web.state()) == (before, state)


def test_a_named_container_that_is_missing_is_named(web, tmp_path):
    res = run(web, "engine-liverestore-observe", tmp_path, matrix(tmp_path, 'names = ["web-a", "web-z"]'))

    assert "has no container named web-z" in ssh.one_line_refusal(res)


def test_without_live_restore_a_container_only_the_harness_could_start_refuses_before_the_stop(web, tmp_path):
    """web-b has no restart policy: a daemon stop without live-restore would leave it stopped."""
    before, state = identity(web), web.state()

    res = run(web, "engine-noliverestore-observe", tmp_path, matrix(tmp_path))

    line = ssh.one_line_refusal(res)
    assert "stopping dockerd stops the observed web-b (no restart policy)" in line, line
    assert "web-a" not in line, "web-a's restart policy brings it back"
    assert (identity(web), web.state()) == (before, state)
    assert web.read(f"{DAEMON_JSON}.lrmatrix-absent") is None


def test_without_live_restore_containers_their_policy_restarts_are_stopped_and_come_back(web, tmp_path):
    """Both with --restart always: dockerd stops and starts them itself; the run said so first,
    and the harness never started one (new PIDs, same IDs, running)."""
    web.sh("docker update --restart always web-b")
    before = identity(web)

    res = run(web, "engine-noliverestore-observe", tmp_path, matrix(tmp_path))

    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "stopping dockerd stops the observed containers web-a (restart always), web-b" in res.stdout
    after = identity(web)
    assert {n: s[0] for n, s in after.items()} == {n: s[0] for n, s in before.items()}
    assert all(s[-1] for s in after.values()) and all(after[n][1] != before[n][1] for n in WEB)
    result = json.loads((tmp_path / "results" / "engine-noliverestore-observe.json").read_text())
    assert result["other_containers"]["started_again"] == {"own-plain": ""}, "only the node's own"
    assert result["verdict"]["observed"] == "outage"


@SYSV_ONLY
def test_no_dockerd_restart_but_the_cells_own_runs_under_observed_containers(web, tmp_path, monkeypatch):
    """The setup's fallback restart (dockerd runs with another live-restore than the cell's) and
    the teardown's (a reload that did not give the node's setting back) are refused, dockerd
    and the observed containers untouched."""
    monkeypatch.setenv("LRMATRIX_MATRIX", matrix(tmp_path)["LRMATRIX_MATRIX"])
    node = driver(web, "engine-liverestore-observe")
    try:
        node.sanity_checks()
        assert [c.name for c in node.observed] == ["web-a", "web-b"]
        before, pid = identity(web), node.daemon_pid()
        assert node.dockerd.effective_live_restore() is False  # the node's; the cell wants true
        with pytest.raises(NodeError, match="stopping it would stop the observed containers web-a, web-b"):
            node.stop_daemon("SIGTERM")
        assert (node.daemon_pid(), identity(web)) == (pid, before)

        # the teardown: the node's file says off, dockerd runs with the cell's on, a reload fails
        node.changes.original, node.changes.original_read = None, True
        web.write(DAEMON_JSON, b'{"live-restore": true}\n')
        node.reload_daemon()
        assert poll(lambda: node.dockerd.effective_live_restore() is True, 5, 0.1)
        web.remove(DAEMON_JSON)
        monkeypatch.setattr(node, "reload_daemon", lambda: None)  # the reload that did not take
        with pytest.raises(NodeError, match="observe mode never restarts dockerd under the observed"):
            node.changes._reconcile_live_restore()
        assert (node.daemon_pid(), identity(web)) == (pid, before)
        assert node.changes.teardown_restarted is False
    finally:
        node.close()
        # the node's own setting back: a reload applies only the keys the file names
        web.write(DAEMON_JSON, b'{"live-restore": false}\n')
        web.sh("kill -HUP $(cat /var/run/docker.pid)")
        poll(lambda: web.sh("docker info --format '{{.LiveRestoreEnabled}}'").strip() == "false", 5, 0.1)
        web.remove(DAEMON_JSON)
