"""Shared helpers for the harness's own tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import prereqs

if TYPE_CHECKING:
    from lrmatrix.drivers.engine.node import EngineNode

ROOT = Path(__file__).resolve().parent.parent


engine_ready = prereqs.engine_ready


def pytest_configure(config: pytest.Config) -> None:
    default_interrupts()
    config.addinivalue_line("markers", prereqs.MARK_HELP)
    # the staging nodes have fixed slots (sysvinit 200, systemd 201): two pytest processes can run
    # side by side only if they boot different ones, and CI's envs split tests/integration by this
    config.addinivalue_line("markers", "systemd_node: boots the systemd staging node (slot 201)")


def default_interrupts() -> None:
    """SIGINT (and SIGQUIT) as a terminal would deliver them, whoever started this session.

    A command a non-interactive shell starts in the background (`.ci/run &`, a runner's script)
    begins with both ignored, and an ignored signal stays ignored across exec: every cell, tox
    and lrmatrix run these tests start and then interrupt with SIGINT ignored it too (the harness
    keeps a signal ignored at its start ignored, as nohup asks), and the SIGINT cases failed in a
    backgrounded CI run while the SIGTERM ones passed."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under CI a missing prerequisite ends the run here, in one line, before any test runs."""
    found = prereqs.missing(session.items)
    if found and prereqs.in_ci():
        pytest.exit(prereqs.ci_line(found), returncode=pytest.ExitCode.TESTS_FAILED)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Outside CI a test whose prerequisite is missing is skipped, the reason naming it."""
    for reason in prereqs.reasons(item):
        prereqs.require(reason)


#: the outage window of the cells that the harness's own tests of the tool (the ssh driver, its
#: teardown and findings) run, where what is tested is not how long Docker was down: 2 s is 40
#: probe ticks, room for every check of the window; the cells CI runs as tox envs keep the
#: matrix's 5 s
TOOL_TEST_WINDOW_S = 2.0


@pytest.fixture(scope="session")
def tool_test_matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped matrix/ whose default outage window is ``TOOL_TEST_WINDOW_S``."""
    folder = tmp_path_factory.mktemp("tool-test") / "matrix"
    shutil.copytree(ROOT / "matrix", folder)
    toml = folder / "matrix.toml"
    shipped = toml.read_text()
    line = "outage_window_s = 5.0 "
    assert shipped.count(line) == 1, f"matrix.toml's [timings] no longer says {line!r}"
    toml.write_text(shipped.replace(line, f"outage_window_s = {TOOL_TEST_WINDOW_S} "))
    return folder


@pytest.fixture
def short_outage_window(tool_test_matrix: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cells this test runs (``lrmatrix run``, tox, the driver in-process) read that copy."""
    monkeypatch.setenv("LRMATRIX_MATRIX", str(tool_test_matrix))
    return tool_test_matrix


@pytest.fixture
def in_own_netns() -> Iterator[subprocess.Popen[bytes]]:
    """A process alone in a network namespace of its own (unshare execs sleep: same pid)."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace of its own needs root")
    from lrmatrix.deadline import poll  # here: the docs env runs conftest without lrmatrix

    proc = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        # unshare has made the namespace and exec'd sleep
        assert poll(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes() == b"sleep\x0030\x00", 10, 0.01)
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def root_dir() -> Path:
    return ROOT


@contextlib.contextmanager
def an_engine_node(cell: str) -> Iterator[EngineNode]:
    """A real engine node of ``cell`` (its daemon.json has no live-restore key: off), removed
    whatever the test does. Its state folder is short: containerd's socket paths must fit."""
    from lrmatrix.drivers.engine.node import EngineNode
    from lrmatrix.matrix.cells import load_matrix
    from lrmatrix.process import become_subreaper

    state = Path(tempfile.mkdtemp(prefix="lrmn-", dir="/tmp"))
    os.environ["LRMATRIX_STATE_DIR"] = str(state / "s")
    become_subreaper()
    node = EngineNode(load_matrix(ROOT / "matrix").cell(cell))
    try:
        node.create()
        yield node
    finally:
        node.destroy()
        node.release()
        del os.environ["LRMATRIX_STATE_DIR"]
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def node_with_a_container(cell: str, name: str = "lrm-reload-test") -> Iterator[tuple[EngineNode, str]]:
    """``an_engine_node`` running one container ``name``, and the container's id. Its ``sleep``
    is PID 1 and ignores SIGTERM: a daemon stopped without live-restore waits out the stop
    timeout before it kills it, so that is 1 s, not Docker's 10."""
    from lrmatrix.workload import image

    with an_engine_node(cell) as node:
        tag = image.image_tag()
        node.import_image(str(image.cached_tarball()), tag, image.CMD)
        argv = ["run", "-d", "--name", name, "--stop-timeout", "1", tag, "sleep", "3600"]
        yield node, node.dockerd.cli_ok(*argv).strip()
