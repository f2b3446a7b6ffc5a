"""Observe mode as data and rules: the ``observe`` key of a workload table, the selection of the
user's containers from ``docker inspect`` output, the refusals before the disruption, the record
that keeps them apart from the node's other containers, and the probe's targets on their node
ports. The real containers are in tests/integration/test_ssh_observe.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import test_bad_input as bad
from conftest import ROOT
from lrmatrix.cli.main import main
from lrmatrix.drivers import make_node
from lrmatrix.drivers.ssh.observed import refusal, select
from lrmatrix.errors import BadInput
from lrmatrix.evidence.other_containers import OtherContainer, OtherContainers
from lrmatrix.evidence.records import Deployed
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.results.model import OtherContainers as OtherContainersPart
from lrmatrix.run.sequence import sequence_for
from lrmatrix.workload.observed import ObservedContainers, owners
from lrmatrix.workload.spec import Endpoint, Observe
from lrmatrix.workload.targets import targets

MATRIX = (ROOT / "matrix" / "matrix.toml").read_text()
OBSERVE = """
[workloads.userweb]
observe = { label = "team.app=web" }
identify = "X-Pod"
endpoints = [
  { path = "/", port = 18081, body = "a" },
  { protocol = "tcp", port = 18082, send = "PING", expect = "PONG" },
]

[cells.engine-liverestore-observe]
workload = "userweb"
"""


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "matrix"
    folder.mkdir(exist_ok=True)
    (folder / "matrix.toml").write_text(MATRIX + text)
    return folder


@pytest.fixture
def observe_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = write(tmp_path, OBSERVE)
    monkeypatch.setenv("LRMATRIX_MATRIX", str(folder))
    return folder


# --- the table ---------------------------------------------------------------------------------
def test_an_observe_workload_is_a_selector_and_endpoints_on_node_ports(observe_matrix):
    cell = load_matrix().cell("engine-liverestore-observe")
    spec = cell.workload
    assert spec is not None and spec.observe == Observe(label="team.app=web")
    assert spec.endpoints == (
        Endpoint("/", "a", 200, port=18081),
        Endpoint("", "PONG", send="PING", port=18082),
    )
    assert cell.needs_node, "only a node of yours has containers to observe"
    assert type(sequence_for(cell).setup[0]).__name__ == "ObserveContainers"
    assert (
        type(sequence_for(load_matrix().cell("engine-liverestore")).setup[0]).__name__ == "DeployContainers"
    )


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ('recipe = "nginx"', "recipe is not allowed with observe"),
        ('ref = "mine:1"', "ref is not allowed with observe"),
        ('command = ["/srv/app"]', "command is not allowed with observe"),
        ('files = { "/etc/a" = "a.conf" }', "files is not allowed with observe"),
        ("port = 80", "port is not allowed with observe"),
        ("replicas = 1", "replicas is not allowed with observe"),
        ('env = { A = "1" }', "env is not allowed with observe"),
    ],
)
def test_what_the_harness_would_create_is_refused_beside_observe(tmp_path, monkeypatch, capsys, key, line):
    monkeypatch.setenv(
        "LRMATRIX_MATRIX", str(write(tmp_path, OBSERVE.replace("identify", f"{key}\nidentify")))
    )
    assert main(["cells"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and line in err and "[workloads.userweb]" in err, err


def test_a_change_step_is_refused_beside_observe(tmp_path, monkeypatch, capsys):
    change = (
        '\n[workloads.userweb.change]\nfile = "/a"\nsource = "a"\nreload = ["true"]\n'
        'endpoints = [{ path = "/" }]\n'
    )
    text = OBSERVE.replace("\n[cells.", change + "\n[cells.", 1)
    monkeypatch.setenv("LRMATRIX_MATRIX", str(write(tmp_path, text)))
    assert main(["cells"]) == 2
    assert "change is not allowed with observe" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ('label = "team.app=web"', 'label = "a=b", names = ["x"]', 'observe takes names = ["..."] or label'),
        ('label = "team.app=web"', "", 'observe takes names = ["..."] or label'),
        ('label = "team.app=web"', 'label = "io.lrmatrix.cell=x"', "is lrmatrix's own label"),
        ('{ path = "/", port = 18081, body = "a" }', '{ path = "/" }', "give port = the node port"),
        ("port = 18082, send", 'port = 18082, path = "/", send', "path is for HTTP endpoints"),
    ],
    ids=["both", "neither", "own-label", "no-port", "http-key-on-tcp"],
)
def test_a_bad_selector_or_endpoint_is_one_line(tmp_path, monkeypatch, capsys, old, new, line):
    monkeypatch.setenv("LRMATRIX_MATRIX", str(write(tmp_path, OBSERVE.replace(old, new, 1))))
    assert main(["cells"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and line in err, err


def test_a_workload_that_is_not_observed_still_needs_its_port(tmp_path, monkeypatch, capsys):
    table = '\n[workloads.mine]\nref = "mine:1"\nendpoints = [{ path = "/" }]\n'
    monkeypatch.setenv("LRMATRIX_MATRIX", str(write(tmp_path, table)))
    assert main(["cells"]) == 2
    assert (
        "[workloads.mine]: port is required: the container port its endpoints and published ports use"
        in capsys.readouterr().err
    )


def test_any_driver_but_ssh_is_refused_in_one_line(observe_matrix, tmp_path):
    cell = load_matrix().cell("engine-liverestore-observe")
    with pytest.raises(BadInput, match=r"runs observe mode \(the workload userweb .*--node ssh://user@host"):
        make_node(cell, None)


@pytest.mark.parametrize("node", [(), ("--node", "engine://")], ids=["default", "engine"])
def test_a_cell_run_on_the_engine_driver_exits_2_before_anything(observe_matrix, tmp_path, node):
    env = {
        **bad.os.environ,
        "LRMATRIX_MATRIX": str(observe_matrix),
        "LRMATRIX_STATE_DIR": str(tmp_path / "s"),
    }
    res = bad.run_cell("engine-liverestore-observe", tmp_path / "results", env, *node)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "observe mode" in bad.one_line(res.stderr)
    assert not (tmp_path / "results").exists() and not (tmp_path / "s").exists()


def test_the_plan_says_nothing_is_created_and_the_change_skips(observe_matrix, capsys):
    assert main(["plan", "engine-liverestore-observe"]) == 0
    out = capsys.readouterr().out
    assert "observe the containers labelled team.app=web on the node: nothing loaded, created" in out
    assert "observe mode: the harness runs, stops and changes nothing" in out
    assert "docker run" not in out


# --- selecting the user's containers --------------------------------------------------------------
def item(
    name: str,
    state: str = "running",
    policy: str = "no",
    labels: dict[str, str] | None = None,
    ports: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``docker inspect`` output as dockerd writes it, reduced to what is read."""
    return {
        "Id": name * 8,
        "Name": f"/{name}",
        "Image": "sha256:" + "f" * 64,
        "State": {"Status": state, "Pid": 100 + len(name), "StartedAt": "2026-01-01T00:00:00Z"},
        "HostConfig": {"RestartPolicy": {"Name": policy}},
        "Config": {"Labels": labels or {}},
        "NetworkSettings": {"Ports": ports or {}},
    }


WEB = {"team.app": "web"}
ITEMS = [item("web-b", labels=WEB), item("db"), item("web-a", policy="always", labels=WEB)]


def test_a_label_selects_the_labelled_containers_by_name():
    chosen = select(ITEMS, Observe(label="team.app=web"), "root@n")
    assert [c.name for c in chosen] == ["web-a", "web-b"]
    assert [c.name for c in select(ITEMS, Observe(names=("web-b", "db")), "root@n")] == ["web-b", "db"]


@pytest.mark.parametrize(
    ("selector", "line"),
    [
        (Observe(label="team.app=nothing"), "observe: root@n has no container labelled team.app=nothing"),
        (Observe(names=("web-a", "web-z")), "observe: root@n has no container named web-z"),
        (Observe(names=("idle",)), "observe: idle on root@n is exited; observe mode watches running"),
        (Observe(names=("lrm",)), "observe: lrm on root@n carries lrmatrix's label io.lrmatrix.cell"),
    ],
)
def test_a_selector_that_finds_nothing_to_watch_is_one_line(selector, line):
    ours = item("lrm", labels={"io.lrmatrix.cell": "engine-liverestore"})
    with pytest.raises(BadInput, match=f"^{line}"):
        select([*ITEMS, item("idle", state="exited"), ours], selector, "root@n")


def test_without_live_restore_only_containers_dockerd_restarts_itself_may_be_observed():
    chosen = select(ITEMS, Observe(label="team.app=web"), "root@n")
    cells = {c.name: c for c in load_matrix().cells}
    assert refusal(chosen, cells["engine-liverestore"]) is None
    line = refusal(chosen, cells["engine-noliverestore"])
    assert line is not None and "stops the observed web-b (no restart policy)" in line, line
    assert "web-a" not in line, "restart always: dockerd starts it again itself"
    assert refusal(chosen[:1], cells["engine-noliverestore"]) is None
    stopped_ok = replace(chosen[0], restart_policy="unless-stopped")
    assert refusal((stopped_ok,), cells["engine-noliverestore"]) is not None, "not always brought back"
    loaded = next(c for c in cells.values() if c.load is not None and c.live_restore)
    assert "observe mode publishes none: remove load" in str(refusal(chosen, loaded))


# --- the record: apart from the node's other containers ----------------------------------------------
A = OtherContainer("a" * 64, "web-a", "running", 201, "2026-01-01T00:00:00Z", "always")
B = OtherContainer("b" * 64, "web-b", "running", 202, "2026-01-01T00:00:01Z", "no")
OWN = OtherContainer("c" * 64, "own-plain", "running", 203, "2026-01-01T00:00:02Z", "no")


def finished(live_restore: bool, *final: OtherContainer) -> OtherContainers:
    others = OtherContainers((OWN,), live_restore, observed=(A, B))
    others.after = others.final = (OWN,)
    others.observed_final = final
    return others


def test_observed_containers_left_as_they_were_pass_and_are_said():
    others = finished(True, A, B)
    passed, detail = others.check()
    assert passed and detail.endswith("observed web-a, web-b: same IDs, PIDs and restart counts"), detail
    assert others.findings()[-1].startswith("the observed containers web-a, web-b kept running with the same")
    assert others.notice() is None


@pytest.mark.parametrize(
    ("final", "said"),
    [
        ((A, replace(B, pid=999)), "observed web-b runs with a new process: pid 202 → 999"),
        ((A, replace(B, restart_count=1)), "observed web-b: restart count 0 → 1"),
        ((A, replace(B, state="exited", pid=0, exit_code=137)), "observed web-b is exited (exit code 137)"),
        ((A,), "observed web-b is gone"),
    ],
    ids=["new-pid", "restarted", "exited", "gone"],
)
def test_an_observed_container_not_left_as_it_was_fails_the_check(final, said):
    passed, detail = finished(True, *final).check()
    assert not passed and detail == said


def test_without_live_restore_a_new_process_is_the_cells_price_and_said_before():
    others = finished(False, replace(A, pid=301), replace(B, pid=302, restart_policy="always"))
    assert others.check()[0], "dockerd started them again by their policy: running is back"
    notice = others.notice()
    assert notice is not None and notice.startswith(
        "without live-restore, stopping dockerd stops the observed"
    )
    assert "web-a (restart always)" in notice and "the harness never does" in notice
    assert not finished(False, A, replace(B, state="exited", pid=0)).check()[0]


def test_the_record_keeps_them_for_recover_and_the_result_validates():
    others = finished(True, A, B)
    back = OtherContainers.from_record(json.loads(json.dumps(others.to_record())))
    assert back is not None and back.observed == (A, B) and back.before == (OWN,)
    assert back.observed_ids == {A.id, B.id}
    part = OtherContainersPart.model_validate_json(json.dumps(others.as_dict()))
    assert [c.name for c in part.observed or []] == ["web-a", "web-b"] and part.observed_problems == []


# --- identity and the probe's targets -------------------------------------------------------------
def test_a_node_port_names_the_one_container_publishing_it():
    bind = [{"HostIp": "0.0.0.0", "HostPort": "18081"}, {"HostIp": "::", "HostPort": "18081"}]
    shared = [{"HostIp": "0.0.0.0", "HostPort": "18090"}]
    items = [
        item("web-a", ports={"80/tcp": bind, "81/tcp": shared}),
        item("web-b", ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18082"}], "9/udp": None}),
        item("web-c", ports={"80/tcp": shared}),
    ]
    assert owners(items) == {18081: "web-a", 18082: "web-b"}, "18090 is two containers': nobody's"


def test_the_probe_sends_each_endpoint_to_its_node_port_and_names_its_owner(observe_matrix):
    spec = load_matrix().cell("engine-liverestore-observe").workload
    assert spec is not None

    class Node:  # what targets reads of a node
        address = "198.18.9.2"

        def loopback_netns(self) -> None:
            return None

        def api_targets(self) -> dict:
            return {}

    w = ObservedContainers(Node(), spec, ["a" * 64], ["web-a"], {18081: "web-a"})  # type: ignore[arg-type]
    found = targets(Node(), Deployed(w, 0.0))  # type: ignore[arg-type]
    http, tcp = found["node"]
    assert (http.url, http.container, http.identify) == ("http://198.18.9.2:18081/", "web-a", "X-Pod")
    assert (tcp.url, tcp.container, tcp.send) == ("tcp://198.18.9.2:18082", "", "PING\r\n")
    assert w.ports == [18081]
    assert w.identity() == (
        "per node port: / on node port 18081: web-a; tcp PING on node port 18082: no one container "
        "(not told apart); the X-Pod header names the container"
    )
