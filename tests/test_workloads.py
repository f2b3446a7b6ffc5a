"""Workloads as data: a user's [workloads.<name>] table loads into the spec the run deploys,
its TCP endpoints are probed over real sockets, and what is missing beside the matrix is one
line before anything runs. (The bad keys of a table: tests/data/bad_matrix_cases.toml.)"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from lrmatrix.cli.main import main
from lrmatrix.errors import BadInput
from lrmatrix.evidence.probe import SERVED_BY, Target, new_session, request_once, wait_until_ok
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.run.actions.workload import image_source, spec_of
from lrmatrix.workload import image
from lrmatrix.workload.containers import Workload
from lrmatrix.workload.seed import seed
from lrmatrix.workload.spec import Endpoint
from lrmatrix.workload.targets import endpoint_targets

MATRIX = (ROOT / "matrix" / "matrix.toml").read_text()
#: a user's own workload: a docker save tarball, an HTTP and a TCP endpoint, no config change
MINE = """
[workloads.mine]
tarball = "../workloads/mine.tar"
ref = "mine:1"
command = ["/srv/app", "--listen", "8080"]
env = { GREETING = "hello" }
replicas = 3
port = 8080
base_port = 9001
identify = "X-Pod"
files = { "/etc/app/app.conf" = "app.conf" }
endpoints = [
  { path = "/ready", status = 204 },
  { protocol = "tcp", send = "HELLO", expect = "WORLD" },
]

[cells.engine-liverestore-mine]
workload = "mine"
"""


@pytest.fixture
def user_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's layout: matrix/ (with the shipped redis files) and workloads/ beside it."""
    folder = tmp_path / "matrix"
    (folder / "workloads" / "redis").mkdir(parents=True)
    for name in ("redis.conf", "redis-changed.conf"):
        (folder / "workloads" / "redis" / name).write_bytes(
            (ROOT / "matrix/workloads/redis" / name).read_bytes()
        )
    (folder / "matrix.toml").write_text(MATRIX + MINE)
    (folder / "app.conf").write_text("listen 8080\n")
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "mine.tar").write_bytes(b"not read by the loader")
    monkeypatch.setenv("LRMATRIX_MATRIX", str(folder))
    return folder


def test_a_user_workload_loads_into_the_spec_the_run_deploys(user_matrix):
    cell = load_matrix().cell("engine-liverestore-mine")
    spec = spec_of(cell)
    assert spec.name == "mine" and spec.ports == [9001, 9002, 9003]
    assert spec.image.ref == "mine:1" and spec.image.tarball is not None
    assert Path(spec.image.tarball.path) == user_matrix.parent / "workloads" / "mine.tar"
    assert spec.endpoints == (Endpoint("/ready", "", 204), Endpoint("", "WORLD", send="HELLO", port=8080))
    assert spec.change is None
    assert image_source(spec) == ("mine:1", ["load", "-i", spec.image.tarball.path])


def test_the_run_args_of_a_user_workload(user_matrix):
    cell = load_matrix().cell("engine-liverestore-mine")

    class Node:  # what run_args reads of a node: the cell's name for the label
        pass

    node = Node()
    node.cell = cell  # type: ignore[attr-defined]
    w = Workload(node, "mine:1", config_dir="/w", spec=spec_of(cell))  # type: ignore[arg-type]
    args = w.run_args("lrm-web-2", 9002)
    assert "--hostname" not in args, "only the seed's nginx names itself by hostname"
    assert args[args.index("-p") + 1] == "9002:8080"
    assert args[args.index("-e") + 1] == "GREETING=hello"
    assert args[args.index("-v") + 1] == "/w/files/etc/app/app.conf:/etc/app/app.conf:ro"
    assert args[-4:] == ["mine:1", "/srv/app", "--listen", "8080"]
    assert w.mkdir_args() == ["mkdir", "-p", "/w/files/etc/app"]


def test_the_plan_shows_a_tarball_workload_loaded_and_run(user_matrix, capsys):
    assert main(["plan", "engine-liverestore-mine", "--commands"]) == 0
    out = capsys.readouterr().out
    tarball = user_matrix.parent / "workloads" / "mine.tar"
    assert f"docker load -i {tarball}" in out
    assert "docker run -d --name lrm-web-3 --restart unless-stopped" in out and "-p 9003:8080" in out
    assert "no config change for this workload" in out


def test_a_missing_tarball_is_one_line_when_its_cell_is_chosen(user_matrix, capsys):
    (user_matrix.parent / "workloads" / "mine.tar").unlink()
    assert main(["cells"]) == 0, "the other cells still list"
    capsys.readouterr()
    assert main(["plan", "engine-liverestore-mine"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "[workloads.mine]: tarball = '../workloads/mine.tar': no such file" in err
    with pytest.raises(BadInput, match=r"app\.conf"):
        (user_matrix / "app.conf").unlink()
        (user_matrix.parent / "workloads" / "mine.tar").write_bytes(b"")
        load_matrix().cell("engine-liverestore-mine")


def test_nginx_is_the_seed_and_no_table_may_take_its_name(user_matrix, capsys):
    (user_matrix / "matrix.toml").write_text(MATRIX + MINE.replace("[workloads.mine]", "[workloads.nginx]"))
    assert main(["cells"]) == 2
    assert "'nginx' is the seed's workload, the default; rename the table" in capsys.readouterr().err


def test_the_shipped_cells_deploy_the_seed_unless_they_name_redis():
    matrix = load_matrix()
    assert matrix.cell("engine-liverestore").workload is None
    redis = spec_of(matrix.cell("engine-liverestore-redis"))
    assert redis.image.recipe == "redis" and redis.identify == "" and all(e.tcp for e in redis.endpoints)
    assert redis.change is not None and redis.change.endpoints[0].send == "CONFIG GET maxmemory-policy"
    assert image_source(redis)[0] == image.image_tag(image.REDIS) != image.image_tag()


def test_the_seed_keeps_its_image_tag():
    """The nginx recipe's key is what it was before recipes (cached tarballs stay valid)."""
    assert image.image_tag() == "lrmatrix/nginx:d946e74c9d05"


# --- targets and the TCP probe ---------------------------------------------------------------
def test_targets_name_the_container_by_address_and_by_header_only_when_the_workload_has_one():
    places = [("10.0.0.1:8081", "lrm-web-1")]
    http, tcp = endpoint_targets((Endpoint("/x", "y", 204), Endpoint("", "+PONG", send="PING")), places, "")
    assert http == Target("http://10.0.0.1:8081/x", "y", container="lrm-web-1", status=204, identify="")
    assert tcp.url == "tcp://10.0.0.1:8081" and tcp.send == "PING\r\n" and tcp.container == "lrm-web-1"
    (nginx,) = endpoint_targets(seed().endpoints[:1], places, seed().identify)
    assert nginx.identify == SERVED_BY


@pytest.fixture
def line_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on loopback: answers PING with +PONG, anything else with -ERR, and never
    answers SLOW; records each line it got."""
    listener = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    line = conn.recv(100)
                except TimeoutError:
                    continue
                got.append(line)
                if line == b"PING\r\n":
                    conn.sendall(b"+PONG\r\n")
                elif line == b"SLOW\r\n":
                    stop.wait(1)
                else:
                    conn.sendall(b"-ERR unknown command\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], got
    stop.set()
    thread.join(5)
    listener.close()


def test_tcp_sends_a_line_and_judges_the_reply(line_server):
    port, got = line_server
    ok = request_once(
        new_session(), Target(f"tcp://127.0.0.1:{port}", "+PONG", container="lrm-web-1", send="PING\r\n"), 2
    )
    assert ok.ok and ok.error == "" and ok.served_by == "lrm-web-1", ok
    wrong = request_once(new_session(), Target(f"tcp://127.0.0.1:{port}", "+PONG", send="HELLO\r\n"), 2)
    assert not wrong.ok and wrong.error == "reply '-ERR unknown command' without '+PONG'"
    assert got[:2] == [b"PING\r\n", b"HELLO\r\n"]


def test_a_tcp_reply_that_never_comes_times_out(line_server):
    port, _ = line_server
    sample = request_once(new_session(), Target(f"tcp://127.0.0.1:{port}", "+PONG", send="SLOW\r\n"), 0.3)
    assert not sample.ok and sample.error == "timed out" and 250 <= sample.latency_ms < 1000


def test_a_closed_tcp_port_is_refused_and_the_wait_says_what_it_answered():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    target = Target(f"tcp://127.0.0.1:{port}", "+PONG", send="PING\r\n")
    last: dict[str, object] = {}
    assert wait_until_ok([target], 0.3, 0.2, None, last) is None  # type: ignore[arg-type]
    assert last[target.url].error == "Connection refused"  # type: ignore[attr-defined]


def test_a_tcp_endpoint_without_expect_is_answered_by_the_connection(line_server):
    port, _ = line_server
    assert request_once(new_session(), Target(f"tcp://127.0.0.1:{port}", ""), 1).ok


def test_a_docker_error_is_its_reason_not_the_cli_hint_after_it():
    """docker run's last line is advice; the port in use is on the line before (measured)."""
    from lrmatrix.command import CmdResult

    said = "docker: Error response from daemon: Bind for 0.0.0.0:6381 failed: port is already allocated.\n"
    for hint in ("Run 'docker run --help' for more information\n", "See 'docker run --help'.\n"):
        assert CmdResult((), 125, "", said + hint).one_line() == said.strip()
    assert CmdResult((), 1, "", "").one_line() == "exit 1"


def test_the_redis_containers_the_plan_shows_are_what_deploy_runs(monkeypatch):
    """As tests/test_plan_commands.py does for the seed: redis's deploy, recorded on a node
    that runs nothing, is in its cell's plan line for line (the image, files, docker runs)."""
    from lrmatrix.drivers.engine.node import EngineNode
    from lrmatrix.run import plan
    from lrmatrix.run.actions.workload import DeployContainers

    cell = load_matrix().cell("engine-liverestore-redis")
    view = EngineNode(cell).plan_view()
    ran: list[list[str]] = []
    written: list[str] = []
    monkeypatch.setattr(view, "run", lambda argv, *a, **k: ran.append(list(argv)))
    monkeypatch.setattr(view, "write_file", lambda path, data: written.append(path))
    monkeypatch.setattr(view.dockerd, "check_output", lambda argv, *a, **k: ran.append(list(argv)) or "")
    DeployContainers.workload(view, cell, image.image_tag(image.REDIS)).deploy()
    lines = [c.text for s in plan.plan_cell(cell, EngineNode(cell)) for c in s.commands]
    assert len(ran) == 3 and all(view.transport.line(argv) in lines for argv in ran), ran
    assert written and all(any(line.startswith(f"{path} (in place)") for line in lines) for path in written)
    assert any(
        " docker import -c 'CMD " in line and line.endswith(image.image_tag(image.REDIS)) for line in lines
    )


def test_a_repository_made_by_init_can_run_the_redis_cells(tmp_path):
    """``lrmatrix init`` copies the matrix with its subfolders: the redis workload's files are
    beside the user's matrix, so choosing its cells does not stop at a missing file."""
    from lrmatrix.cli.init import scaffold

    scaffold(tmp_path / "repo")
    cell = load_matrix(tmp_path / "repo" / "matrix").cell("engine-liverestore-redis")
    assert cell.workload is not None and cell.workload.problems() == []
    assert (tmp_path / "repo/matrix/workloads/redis/redis.conf").read_bytes() == (
        ROOT / "matrix/workloads/redis/redis.conf"
    ).read_bytes()
