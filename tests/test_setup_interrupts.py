"""An interrupt at every step of an engine cell's setup, not at one lucky moment.

``LRMATRIX_INTERRUPT_AT=<step>`` makes the run send itself SIGTERM when it reaches that step
(``lrmatrix.run.setup_steps``), so each case interrupts exactly there, every time. Each must end
as a SIGTERM from a CI runner should: exit 130, a result that says it was interrupted in
the setup, the node's teardown check passed, and nothing of the run left on this machine
(``tests/leftovers.py``). The image build steps run on an empty cache of their own.

This is the issue's case 2 too (SIGTERM while waiting for dockerd's API or importing the
image left the whole node and no result): steps ``dockerd-started`` and ``image-importing``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import leftovers
from conftest import ROOT, engine_ready
from lrmatrix.cli.main import cell_argv
from lrmatrix.errors import INTERRUPTED
from lrmatrix.run import setup_steps
from prereqs import needs

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]

CELL = "engine-liverestore"
#: reached only when the image is built, so on a cache of their own
COLD_CACHE = ("image-build-folder-made", "image-tarball-written")


@pytest.fixture
def state() -> Iterator[Path]:
    """A short state folder of its own: containerd's socket paths must fit in 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="lrms-", dir="/tmp"))
    yield folder / "s"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("step", setup_steps.STEPS)
def test_an_interrupt_at_this_setup_step_is_undone_and_reported(step, state, tmp_path):
    cache = tmp_path / "cache" if step in COLD_CACHE else None
    scope = leftovers.begin(state, cache)
    env = {
        **os.environ,
        "LRMATRIX_STATE_DIR": str(state),
        setup_steps.ENV: step,
        **({"LRMATRIX_CACHE_DIR": str(cache)} if cache else {}),
    }
    results = tmp_path / "results"
    res = subprocess.run(
        cell_argv(CELL, results, "-q"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    out = res.stdout[-3000:] + res.stderr[-3000:]
    assert f"{setup_steps.ENV}={step}: sending SIGTERM to myself" in res.stderr, f"never reached:\n{out}"
    assert res.returncode == INTERRUPTED, out
    assert "Traceback" not in out, out
    result = json.loads((results / f"{CELL}.json").read_text())
    verdict = result["verdict"]
    assert verdict["observed"] == "interrupted", verdict
    assert verdict["reason"].startswith("interrupted by SIGTERM in the setup phase"), verdict
    clean = next(c for c in result["checks"] if c["id"] == "node_left_clean")
    assert clean["passed"], clean
    assert leftovers.left(scope, [result["node"]["name"]]) == []
