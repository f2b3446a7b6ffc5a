"""Shared helpers for the harness's own tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lrmatrix.drivers.engine.node import EngineNode

ROOT = Path(__file__).resolve().parent.parent


def interrupts_by_default() -> None:
    """For a child's preexec_fn: a process keeps ignoring what its starter ignored (nohup), and
    a shell's background job (`.ci/run &`) starts with SIGINT ignored, so a test that
    interrupts a child gives it the default back (else the SIGINT cases hang or pass unstopped)."""
    from lrmatrix.interrupts import INTERRUPT_SIGNALS

    for sig in INTERRUPT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def engine_ready() -> str | None:
    """Why engine-node tests cannot run here, or None when they can (root + docker.io)."""
    if os.geteuid() != 0:
        return "needs root"
    for cmd in ("dockerd", "iptables", "ip", "nsenter"):
        if shutil.which(cmd) is None:
            return f"{cmd} is not installed"
    return None


@pytest.fixture
def root_dir() -> Path:
    return ROOT


@contextlib.contextmanager
def node_with_a_container(cell: str, name: str = "lrm-reload-test") -> Iterator[tuple[EngineNode, str]]:
    """A real engine node of ``cell`` (its daemon.json has no live-restore key: off) running one
    container ``name``, and the container's id; removed whatever the test does. Its state
    folder is short: containerd's socket paths must fit."""
    from lrmatrix.drivers.engine.node import EngineNode
    from lrmatrix.matrix.cells import load_matrix
    from lrmatrix.process import become_subreaper
    from lrmatrix.workload import image

    state = Path(tempfile.mkdtemp(prefix="lrmn-", dir="/tmp"))
    os.environ["LRMATRIX_STATE_DIR"] = str(state / "s")
    become_subreaper()
    node = EngineNode(load_matrix(ROOT / "matrix").cell(cell))
    try:
        node.create()
        tag = image.image_tag()
        node.import_image(str(image.cached_tarball()), tag, image.CMD)
        yield node, node.dockerd.cli_ok("run", "-d", "--name", name, tag, "sleep", "3600").strip()
    finally:
        node.destroy()
        node.release()
        del os.environ["LRMATRIX_STATE_DIR"]
        shutil.rmtree(state, ignore_errors=True)
