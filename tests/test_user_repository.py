"""A repository of your own, for real: the built wheel in a fresh virtualenv, ``lrmatrix init``
in an empty folder, a check of the user's, a workload of the user's (a ``docker save`` tarball
with an HTTP and a TCP endpoint and a change step) and its cell in the user's matrix, ``tox -e
engine-liverestore-mine`` there (no toxfile.py: the envs come from the package's tox entry
point), and the cell passes with the user's check in its result; then ``tox -e
engine-liverestore-mine -- more_checks/`` with a failing one fails it.

Each step's seconds are printed (``-s``) and kept as the test's properties (JUnit XML)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.process import become_subreaper
from lrmatrix.results import files as results
from lrmatrix.workload import image
from lrmatrix.workload.seed import INDEX_HTML, nginx_conf
from prereqs import needs
from test_packaging import uv as packaging_uv

pytestmark = [pytest.mark.integration, needs(engine_ready())]

#: the user's own workload: a ``docker save`` tarball beside the matrix, its config files, an HTTP
#: and a TCP endpoint (HTTP/0.9-style GET over plain TCP), its change step as data
CELL = "engine-liverestore-mine"

#: no phase marker (the default phase), and host must be the node's: the node's address is on
#: its interfaces, and not on this machine's
USER_CHECK = """
import subprocess


def test_my_check_reaches_the_node(host, node):
    here = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    assert node.address in host.check_output("ip -o -4 addr show")
    assert node.address not in here
"""
FAILING_CHECK = """
import pytest


@pytest.mark.phase("after")
def test_my_failing_check(host):
    assert host.run("test -e /nothing-here").rc == 0, "the user's check fails on purpose"
"""


USER_WORKLOAD = """
[workloads.mine]
tarball = "../workloads/mine.tar"
ref = "mine:1"
command = ["/usr/sbin/nginx", "-g", "daemon off;"]
port = 80
base_port = 9001
files = { "/etc/nginx/nginx.conf" = "nginx.conf", "/usr/share/nginx/html/index.html" = "index.html" }
endpoints = [
  { path = "/health", body = "healthy" },
  { protocol = "tcp", send = "GET /status", expect = "nginx is running" },
]

[workloads.mine.change]
file = "/etc/nginx/nginx.conf"
source = "nginx-updated.conf"
reload = ["nginx", "-s", "reload"]
endpoints = [{ path = "/test", status = 200, body = "Updated Configuration" }]

[cells.engine-liverestore-mine]
workload = "mine"
"""


def saved_image(tarball: Path) -> None:
    """``docker save`` of the offline nginx image tagged ``mine:1``, made on a node of its own
    (no registry here: the user's tarball is made the way a user makes one)."""
    from lrmatrix.drivers.engine.node import EngineNode

    state = Path(tempfile.mkdtemp(prefix="lrmw-", dir="/tmp"))
    os.environ["LRMATRIX_STATE_DIR"] = str(state / "s")
    become_subreaper()
    node = EngineNode(load_matrix(ROOT / "matrix").cell("engine-liverestore"))
    try:
        node.create()
        node.import_image(str(image.cached_tarball()), "mine:1", image.CMD)
        node.dockerd.cli_ok("save", "-o", str(tarball), "mine:1", timeout=120)
    finally:
        node.destroy()
        node.release()
        del os.environ["LRMATRIX_STATE_DIR"]
        shutil.rmtree(state, ignore_errors=True)


def uv() -> str:
    found = packaging_uv()
    if found is None:
        pytest.fail("needs uv (bootstrap installs it with tox-uv)")
    return found


@pytest.fixture
def state() -> Iterator[Path]:
    """A short state folder: containerd's socket paths must fit."""
    folder = Path(tempfile.mkdtemp(prefix="lrmu-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def timed(
    steps: dict[str, float], name: str, argv: list[str], **kw: object
) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    steps[name] = round(time.monotonic() - start, 1)
    return res


def checks_of(result: Path) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads(result.read_text())["checks"]}


def installed_and_initialised(steps: dict[str, float], dist: Path, venv: Path, repo: Path, env: dict) -> str:
    """The wheel built and installed in a fresh virtualenv, ``lrmatrix init``, and the user's
    check, workload and cell written; the virtualenv's python."""
    res = timed(steps, "build", [uv(), "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], timeout=300)
    assert res.returncode == 0, res.stderr
    wheel = next(dist.glob("lrmatrix-*.whl"))
    assert timed(steps, "venv", [uv(), "venv", "-q", str(venv)]).returncode == 0
    py = str(venv / "bin" / "python")
    res = timed(steps, "install", [uv(), "pip", "install", "-q", "--python", py, str(wheel), "tox>=4.29",
                                   "tox-uv>=1.11"], timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = timed(steps, "init", [str(venv / "bin" / "lrmatrix"), "init", str(repo)], env=env, cwd=repo.parent)
    assert res.returncode == 0, res.stderr
    (repo / "infra_tests" / "test_mine.py").write_text(USER_CHECK)
    matrix = repo / "matrix"
    with (matrix / "matrix.toml").open("a") as toml:
        toml.write(USER_WORKLOAD)
    (matrix / "nginx.conf").write_text(nginx_conf())
    (matrix / "nginx-updated.conf").write_text(nginx_conf(updated=True))
    (matrix / "index.html").write_text(INDEX_HTML)
    return py


def saved_meanwhile(steps: dict[str, float], tarball: Path) -> None:
    start = time.monotonic()
    saved_image(tarball)
    steps["docker_save"] = round(time.monotonic() - start, 1)


def test_pip_install_init_and_tox_in_an_empty_folder(tmp_path, state, record_property):
    steps: dict[str, float] = {}
    dist, venv, repo = tmp_path / "dist", tmp_path / "venv", tmp_path / "repo"
    # the user's environment, taken before the thread below sets its own state folder in ours
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LRMATRIX_", "TOX_", "VIRTUAL_ENV"))}
    env.update(LRMATRIX_STATE_DIR=str(state / "s"), PATH=f"{venv / 'bin'}:{env['PATH']}")
    # the user's image is saved on a node of its own while the wheel is built and installed:
    # nothing waits for it before the matrix names it (it is the user's, made beforehand)
    with ThreadPoolExecutor(max_workers=1) as pool:
        saving = pool.submit(saved_meanwhile, steps, tmp_path / "mine.tar")
        py = installed_and_initialised(steps, dist, venv, repo, env)
        saving.result()
    (repo / "workloads").mkdir(exist_ok=True)  # init may have made it
    shutil.move(tmp_path / "mine.tar", repo / "workloads" / "mine.tar")
    res = timed(steps, "cells", [str(venv / "bin" / "lrmatrix"), "cells"], env=env, cwd=repo)
    assert res.stdout.splitlines()[0] == f"matrix: {repo / 'matrix'}"

    tox = [py, "-m", "tox", "-e", CELL]
    res = timed(steps, "tox", tox, env=env, cwd=repo, timeout=900)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "1 check without a phase marker runs in the after phase" in out
    result = repo / "results" / f"{CELL}.json"
    mine = checks_of(result)["test_my_check_reaches_the_node"]
    assert mine == {"id": "test_my_check_reaches_the_node", "phase": "after", "passed": True, "detail": "",
                    "source": "infra_tests/test_mine.py"}  # fmt: skip
    assert checks_of(result)["test_verdict_matches_expectation"]["source"] is None  # a built-in one
    assert checks_of(result)["test_updated_response_on_node_path[/test]"]["passed"]  # its change step
    got = results.load(result)
    urls = {str(t) for p in got.probes.values() for t in (p.targets or [])}
    assert any(u.startswith("tcp://") and u.endswith(":9001") for u in urls), urls
    assert [e.detail for e in got.events if e.name == "workload deployed"] == [
        "mine: 2 containers, told apart by their own address (a node port each; their container IP "
        "on the pod path, which a restart may reassign)"
    ]
    assert (
        checks_of(result)["test_the_verdict_is_the_expected_one"]["source"] == "infra_tests/test_example.py"
    )

    # its checks and its survival horizon, per container, in the result and in the report
    assert set(got.log_pressure or {}) >= {"lrm-web-1", "lrm-web-2"}
    report = timed(steps, "report", [str(venv / "bin" / "lrmatrix"), "report", "--format", "markdown",
                                     "--exit-zero", "--no-matrix", "results"], env=env, cwd=repo)  # fmt: skip
    assert report.returncode == 0, report.stderr
    mine = r"user check after/test\_my\_check\_reaches\_the\_node (infra\_tests/test\_mine.py): passed"
    assert mine in report.stdout, report.stdout  # markdown escapes the underscores
    assert "lrm-web-1 logs" in report.stdout and "would stall after" in report.stdout, report.stdout

    (repo / "more_checks").mkdir()
    (repo / "more_checks" / "test_more.py").write_text(FAILING_CHECK)
    res = timed(steps, "tox_failing", [*tox, "--", "more_checks/", "-q"], env=env, cwd=repo, timeout=900)
    assert res.returncode == 1, (res.stdout + res.stderr)[-4000:]
    failing = checks_of(result)["test_my_failing_check"]
    assert (failing["passed"], failing["source"]) == (False, "more_checks/test_more.py")
    assert checks_of(result)["test_my_check_reaches_the_node"]["passed"]  # infra_tests/ too
    assert "failed check after/test_my_failing_check (user check, more_checks/test_more.py)" in res.stdout

    for name, seconds in steps.items():
        record_property(f"seconds_{name}", seconds)
    print(f"\nuser repository, seconds per step: {steps}")
