"""A workload's bad input that only the node can reveal, on a real engine node: an image ref
the node lacks, a TCP reply that never holds what is expected, a published port in use. Each
is one line, exit 2, and the node is torn down (what the matrix alone reveals is in
tests/data/bad_matrix_cases.toml and tests/test_workloads.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.process import become_subreaper
from lrmatrix.results import files as results
from lrmatrix.run.actions.workload import deploy, spec_of
from lrmatrix.workload import image
from lrmatrix.workload.containers import Workload
from prereqs import needs
from test_bad_input import MATRIX, assert_torn_down, cell_env, run_cell, write_matrix  # noqa: F401

pytestmark = [pytest.mark.integration, needs(engine_ready())]

REDIS_LIKE = """
[workloads.{name}]
{image}
command = ["redis-server", "/etc/redis/redis.conf"]
port = 6379
base_port = 6381
files = {{ "/etc/redis/redis.conf" = "workloads/redis/redis.conf" }}
endpoints = [{{ protocol = "tcp", send = "PING", expect = "{expect}" }}]

[cells.engine-liverestore-{name}]
workload = "{name}"
timings = {{ ready_timeout_s = 3.0 }}
"""


def user_matrix(folder: Path, name: str, image_line: str, expect: str = "+PONG") -> Path:
    matrix = write_matrix(folder, MATRIX + REDIS_LIKE.format(name=name, image=image_line, expect=expect))
    shutil.copytree(ROOT / "matrix" / "workloads", matrix / "workloads")
    return matrix


def refused_in_setup(tmp_path: Path, env: dict[str, str], cell: str) -> str:
    """The cell's run: exit 2, the setup's reason on its one ``error:`` line, the node gone."""
    res = run_cell(cell, tmp_path / "results", env)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out, out
    lines = [line for line in res.stdout.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, out
    result = tmp_path / "results" / f"{cell}.json"
    assert result.is_file(), "a run that made a node says where"
    assert_torn_down(env, results.load(result).node.name)
    return lines[0]


def test_a_tcp_reply_that_never_holds_expect_names_the_endpoint_and_the_reply(tmp_path, cell_env):  # noqa: F811
    cell_env["LRMATRIX_MATRIX"] = str(user_matrix(tmp_path / "m", "nope", 'recipe = "redis"', "NOPE"))
    line = refused_in_setup(tmp_path, cell_env, "engine-liverestore-nope")
    assert "the workload did not answer on the node path within 3s: tcp://" in line, line
    # redis keeps the connection open: what came before the wait for more ended is quoted
    assert ":6381 (sent 'PING', expected 'NOPE') answered: reply '+PONG' without 'NOPE'" in line, line


def test_an_image_ref_the_node_lacks_is_one_line(tmp_path, cell_env):  # noqa: F811
    cell_env["LRMATRIX_MATRIX"] = str(user_matrix(tmp_path / "m", "absent", 'ref = "lrmatrix/absent:1"'))
    line = refused_in_setup(tmp_path, cell_env, "engine-liverestore-absent")
    assert "the absent workload's image is missing: the node has no image lrmatrix/absent:1" in line, line


def test_a_published_port_in_use_on_the_node_is_one_line_naming_it():
    """Another container holds node port 6381: the redis workload's first replica cannot
    take it. Its containers are removed by ``Workload.remove`` (teardown's step)."""
    from lrmatrix.drivers.engine.node import EngineNode

    state = Path(tempfile.mkdtemp(prefix="lrmw-", dir="/tmp"))
    os.environ["LRMATRIX_STATE_DIR"] = str(state / "s")
    become_subreaper()
    cell = load_matrix(ROOT / "matrix").cell("engine-liverestore-redis")
    node = EngineNode(cell)
    try:
        node.create()
        nginx = image.image_tag()
        node.import_image(str(image.cached_tarball()), nginx, image.CMD)
        # a container that keeps the port: sleep (the image without its config would exit)
        node.dockerd.cli_ok(
            "run", "-d", "--name", "lrm-blocker", "-p", "6381:80", "--entrypoint", "/bin/sleep", nginx, "300"
        )
        redis = image.image_tag(image.REDIS)
        node.import_image(str(image.cached_tarball(image.REDIS)), redis, image.REDIS.cmd)
        workload = Workload(node, redis, config_dir=node.work_dir, spec=spec_of(cell))
        with pytest.raises(BadInput) as refused:
            deploy(workload)
        assert str(refused.value).startswith(
            "node port 6381 of the redis workload is already in use on the node"
        )
        workload.remove()
        assert node.dockerd.cli_ok("ps", "-aq", "--filter", "name=lrm-web-").split() == []
    finally:
        node.destroy()
        node.release()
        del os.environ["LRMATRIX_STATE_DIR"]
        shutil.rmtree(state, ignore_errors=True)
