"""A repository of your own, for real: the built wheel in a fresh virtualenv, ``lrmatrix init``
in an empty folder, a check of the user's, ``tox -e engine-liverestore`` there (no toxfile.py:
the envs come from the package's tox entry point), and the cell passes with the user's check in
its result; then ``tox -e engine-liverestore -- more_checks/`` with a failing one fails it.

Each step's seconds are printed (``-s``) and kept as the test's properties (JUnit XML)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import engine_ready
from prereqs import needs
from test_packaging import uv as packaging_uv

pytestmark = [pytest.mark.integration, needs(engine_ready())]

ROOT = Path(__file__).resolve().parent.parent
CELL = "engine-liverestore"

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


def test_pip_install_init_and_tox_in_an_empty_folder(tmp_path, state, record_property):
    steps: dict[str, float] = {}
    dist, venv, repo = tmp_path / "dist", tmp_path / "venv", tmp_path / "repo"
    res = timed(steps, "build", [uv(), "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], timeout=300)
    assert res.returncode == 0, res.stderr
    wheel = next(dist.glob("lrmatrix-*.whl"))
    assert timed(steps, "venv", [uv(), "venv", "-q", str(venv)]).returncode == 0
    py = str(venv / "bin" / "python")
    res = timed(steps, "install", [uv(), "pip", "install", "-q", "--python", py, str(wheel), "tox>=4.29",
                                   "tox-uv>=1.11"], timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LRMATRIX_", "TOX_", "VIRTUAL_ENV"))}
    env.update(LRMATRIX_STATE_DIR=str(state / "s"), PATH=f"{venv / 'bin'}:{env['PATH']}")
    res = timed(steps, "init", [str(venv / "bin" / "lrmatrix"), "init", str(repo)], env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (repo / "infra_tests" / "test_mine.py").write_text(USER_CHECK)
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
    assert (
        checks_of(result)["test_the_verdict_is_the_expected_one"]["source"] == "infra_tests/test_example.py"
    )

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
