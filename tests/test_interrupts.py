"""Interrupts of a real engine cell, sent the way a shell user and a CI runner send them.

SIGINT, SIGTERM and SIGHUP, each to ``lrmatrix run`` alone, to its pytest child alone, to tox
alone, and to the whole process group (12 cases), once the outage phase is reached. Each ends
with exit 130 (whatever the signal), a result whose verdict is ``interrupted`` and names the
signal and the phase, the node torn down (no namespace, no daemon of it), and no process of
the run left once the parent has exited. The table of interrupts
(docs/interrupts-and-exit-codes.md) is these cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

import leftovers
from conftest import ROOT, engine_ready
from lrmatrix.cli import forked_cell
from lrmatrix.errors import INTERRUPTED
from lrmatrix.options import cell_argv
from prereqs import needs

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]

CELL = "engine-liverestore"
OUTAGE = "test_container_processes_kept_or_gone"  # reported once the daemon has been down a while
BASELINE = "test_daemon_json_live_restore_is_cell_value"
IN_OUTAGE = "in the outage phase, while the daemon was stopped"
MAX_LINES_AFTER_SIGNAL = 30
PROMPT_S = 15.0  # a teardown takes about 3 s; waiting out the 30 s window instead is a failure
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
RECEIVERS = ("lrmatrix", "pytest", "tox", "group")


@pytest.fixture(scope="module")
def matrix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The matrix (outside the checkout) with a 30 s window: time to interrupt the outage,
    which each case does as soon as the outage checks run, not after waiting it out."""
    folder = tmp_path_factory.mktemp("matrix")
    text = (ROOT / "matrix" / "matrix.toml").read_text()
    (folder / "matrix.toml").write_text(text.replace("outage_window_s = 5.0", "outage_window_s = 30.0"))
    return folder


@dataclass
class ToxEnv:
    """The cell's tox env in a workdir of this module's, being made (``tox --notest``)."""

    workdir: Path
    making: subprocess.Popen[bytes] | None

    @property
    def log(self) -> Path:
        return self.workdir.with_suffix(".log")

    def ready(self) -> Path:
        """The workdir, once the env is made: the first tox case waits here, the others not."""
        if self.making is not None:
            code = self.making.wait(timeout=600)
            assert code == 0, f"tox could not make the env:\n{self.log.read_text()[-3000:]}"
            self.making = None
        return self.workdir


@pytest.fixture(scope="module")
def tox_env(tmp_path_factory: pytest.TempPathFactory, matrix_dir: Path) -> Iterator[ToxEnv]:
    """One tox env for every tox case: made once, then only the package is reinstalled. It is
    made in the background from the first case on (10-20 s of installing), while the cases
    that run ``lrmatrix run`` or its pytest go first."""
    workdir = tmp_path_factory.mktemp("tox")
    argv = [sys.executable, "-m", "tox", "--workdir", str(workdir), "-e", CELL, "--notest"]
    env = {**os.environ, "LRMATRIX_MATRIX": str(matrix_dir)}
    made = ToxEnv(workdir, None)
    with made.log.open("wb") as log:
        made.making = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield made
    if made.making is not None:  # no tox case ran (deselected)
        made.making.terminate()
        made.making.wait()


@pytest.fixture
def env(matrix_dir: Path) -> Iterator[dict[str, str]]:
    """Its own short state folder (containerd's socket paths must fit), which also names this
    run's daemons on the command line. Signals ignored by whoever started the tests (nohup)
    would be ignored by the run too, so they are given back their default for it."""
    state = Path(tempfile.mkdtemp(prefix="lrmi-", dir="/tmp"))
    ignored = [s for s in SIGNALS if signal.getsignal(s) == signal.SIG_IGN]
    for sig in ignored:
        signal.signal(sig, signal.SIG_DFL)
    yield {
        **os.environ,
        "LRMATRIX_STATE_DIR": str(state / "s"),
        "LRMATRIX_MATRIX": str(matrix_dir),
        "PYTHONUNBUFFERED": "1",
        "PYTEST_ADDOPTS": "-vv",  # with run's own -q: one line per check, and the outage marker
    }
    for sig in ignored:
        signal.signal(sig, signal.SIG_IGN)
    abandon(state)
    shutil.rmtree(state, ignore_errors=True)


def abandon(state: Path) -> None:
    """After a run that failed its test (one hung past its wait): kill what still names its
    state folder, and let ``lrmatrix recover`` remove its node, so no test leaves a node behind."""
    alive = [p for p in psutil.process_iter(["cmdline"]) if str(state) in " ".join(p.info["cmdline"] or [])]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
    if alive or any((state / "s").glob("lrm*")):
        env = {**os.environ, "LRMATRIX_STATE_DIR": str(state / "s")}
        subprocess.run(
            [sys.executable, "-m", "lrmatrix", "recover"], env=env, capture_output=True, timeout=120
        )


def lrmatrix_run(results: Path, _: ToxEnv) -> tuple[list[str], Path]:
    return [sys.executable, "-m", "lrmatrix", "run", CELL, "--results-dir", str(results)], Path("/")


def tox_run(results: Path, tox: ToxEnv) -> tuple[list[str], Path]:
    argv = [sys.executable, "-m", "tox", "--workdir", str(tox.ready()), "-e", CELL, "--",
            "-v", "--results-dir", str(results), f"--junitxml={results / 'x.xml'}"]  # fmt: skip
    return argv, ROOT


@dataclass
class Run:
    """One cell run in a session of its own (its group is the process group a terminal would
    signal); its output is read line by line as it comes, and waited on for markers."""

    proc: subprocess.Popen[str]
    state: Path
    lines: list[str] = field(default_factory=list)
    seen: int = 0  # lines before the last marker waited for
    signalled: int = 0  # lines before the signal
    scope: leftovers.Scope | None = None
    tree: list[psutil.Process] = field(default_factory=list)
    reader: threading.Thread | None = None
    more: threading.Condition = field(default_factory=threading.Condition)
    signalled_at: float = 0.0
    ended_at: float = 0.0

    @classmethod
    def start(cls, argv: list[str], cwd: Path, env: dict[str, str]) -> Run:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        state = Path(env["LRMATRIX_STATE_DIR"])
        run = cls(proc, state, scope=leftovers.begin(state))
        run.reader = threading.Thread(target=run._read, daemon=True)
        run.reader.start()
        return run

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.more:
                self.lines.append(line)
                self.more.notify_all()
        with self.more:
            self.lines.append("")  # the end of the output
            self.more.notify_all()

    def reach(self, marker: str) -> None:
        """Wait on the run's own output, never on a sleep; the first time, note what the run
        is made of: its processes."""

        def found() -> bool:
            for i in range(self.seen, len(self.lines)):
                if marker in self.lines[i] or self.lines[i] == "":
                    self.seen = i + 1
                    return True
            return False

        with self.more:
            if not self.more.wait_for(found, timeout=300) or self.lines[self.seen - 1] == "":
                pytest.fail(f"never saw {marker}:\n{''.join(self.lines)[-3000:]}")
        if not self.tree:
            root = psutil.Process(self.proc.pid)
            self.tree = [root, *root.children(recursive=True)]

    def cell(self) -> psutil.Process:
        """The cell's pytest: tox's child, or the one ``lrmatrix run`` forked from itself."""
        children = psutil.Process(self.proc.pid).children()
        (found,) = [p for p in children if p.name() == forked_cell.NAME or "pytest" in " ".join(p.cmdline())]
        return found

    def wait(self) -> int:
        code = self.proc.wait(timeout=300)
        self.ended_at = time.monotonic()
        return code

    def record(self, request: pytest.FixtureRequest, results: Path) -> None:
        """For the table of interrupts in the docs (``--junitxml … -o junit_family=xunit1``): the
        exit code, how long the parent took to exit after the signal (the cell's teardown),
        and the verdict's reason."""
        reason = json.loads((results / f"{CELL}.json").read_text())["verdict"]["reason"]
        request.node.user_properties += [
            ("exit_code", self.proc.returncode),
            ("signal_to_exit_s", round(self.ended_at - self.signalled_at, 1)),
            ("reason", reason),
        ]

    def output_after(self) -> str:
        """From the signal on, once the run's last writer has closed its output (bounded)."""
        if self.reader is not None:
            self.reader.join(timeout=60)
        return "".join(self.lines[self.signalled :])

    def left_running(self) -> list[str]:
        """The run's processes, as seen before the signal, that still run (zombies do not run,
        and PID 1 here does not reap them)."""
        left = []
        for p in self.tree:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
            except psutil.NoSuchProcess:
                pass
        return left


def send(run: Run, receiver: str, sig: signal.Signals) -> None:
    run.signalled_at, run.signalled = time.monotonic(), run.seen
    if receiver == "group":
        os.killpg(run.proc.pid, sig)
    elif receiver == "pytest":
        run.cell().send_signal(sig)
    else:  # the process started (lrmatrix run, tox, or a cell's pytest), alone
        run.proc.send_signal(sig)


def assert_torn_down(run: Run, results: Path, reason: str) -> None:
    after = run.output_after()
    assert "Traceback" not in after and "INTERNALERROR" not in after, after
    assert len(after.splitlines()) <= MAX_LINES_AFTER_SIGNAL, after
    result = json.loads((results / f"{CELL}.json").read_text())
    verdict = result["verdict"]
    assert verdict["observed"] == "interrupted" and not verdict["passed"], verdict
    assert verdict["reason"].startswith(reason), verdict
    assert result["error"] == verdict["reason"]
    clean = next(c for c in result["checks"] if c["id"] == "node_left_clean")
    assert clean["passed"], clean
    # the node: namespace, veth, slot record, dockerd, containerd, container processes by
    # cgroup, mounts and state; none of it left
    assert run.scope is not None
    assert leftovers.left(run.scope, [result["node"]["name"]]) == []


@pytest.mark.parametrize("receiver", RECEIVERS)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_an_interrupt_mid_outage_tears_the_cell_down_and_exits_130(
    env, tmp_path, tox_env, request, sig, receiver
):
    results = tmp_path / "results"
    argv, cwd = (tox_run if receiver == "tox" else lrmatrix_run)(results, tox_env)
    run = Run.start(argv, cwd, env)
    run.reach(OUTAGE)
    send(run, receiver, sig)
    code = run.wait()
    left = run.left_running()  # at once: the parent waited for the teardown
    run.record(request, results)
    assert code == INTERRUPTED, run.output_after()
    assert run.ended_at - run.signalled_at < PROMPT_S, "the interrupt waited for the outage window"
    assert left == [], f"still running after the parent exited: {left}"
    assert_torn_down(run, results, f"interrupted by {sig.name} {IN_OUTAGE}")


def test_ctrl_c_on_tox_in_a_terminal(env, tmp_path, tox_env, request):
    """A terminal's Ctrl-C: SIGINT to tox and its cell at once; tox passes its own on too, and
    the cell takes the two as one interrupt."""
    results = tmp_path / "results"
    run = Run.start(*tox_run(results, tox_env), env)
    run.reach(OUTAGE)
    send(run, "group", signal.SIGINT)
    assert run.wait() == INTERRUPTED, run.output_after()
    assert run.left_running() == []
    run.record(request, results)
    assert "again" not in run.output_after()
    assert_torn_down(run, results, f"interrupted by SIGINT {IN_OUTAGE}")


def test_tox_passes_130_through_when_the_cell_alone_is_stopped(env, tmp_path, tox_env):
    """A SIGTERM that reaches the cell's pytest only (a CI runner stopping the job, `kill`)."""
    results = tmp_path / "results"
    run = Run.start(*tox_run(results, tox_env), env)
    run.reach(OUTAGE)
    send(run, "pytest", signal.SIGTERM)
    assert run.wait() == INTERRUPTED, run.output_after()
    assert run.left_running() == []
    assert f"{CELL}: exit {INTERRUPTED}" in run.output_after()
    assert_torn_down(run, results, f"interrupted by SIGTERM {IN_OUTAGE}")


@pytest.mark.parametrize("parent", ["lrmatrix", "tox"])
def test_a_cell_whose_parent_is_killed_tears_down_on_its_own(env, tmp_path, tox_env, request, parent):
    """SIGKILL cannot be passed on (a CI runner's last resort, the OOM killer): the kernel tells
    the cell its parent died, and the cell tears its node down and writes its result."""
    results = tmp_path / "results"
    run = Run.start(*(tox_run if parent == "tox" else lrmatrix_run)(results, tox_env), env)
    run.reach(OUTAGE)
    cell = run.cell()
    send(run, parent, signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    cell.wait(timeout=120)
    run.ended_at = time.monotonic()  # the cell's own end: its parent was gone at once
    assert run.left_running() == []
    run.record(request, results)
    orphaned = f"SIGHUP (its parent, pid {run.proc.pid}, exited)"
    assert_torn_down(run, results, f"interrupted by {orphaned} {IN_OUTAGE}")


def test_interrupted_before_the_daemon_was_stopped(env, tmp_path):
    results = tmp_path / "results"
    run = Run.start(cell_argv(CELL, results, "-v"), Path("/"), env)
    run.reach(BASELINE)
    send(run, "itself", signal.SIGTERM)
    assert run.wait() == INTERRUPTED, run.output_after()
    reason = "interrupted by SIGTERM in the baseline phase, before the daemon was stopped"
    assert_torn_down(run, results, reason)


def test_a_second_signal_neither_breaks_the_teardown_nor_prints_a_traceback(env, tmp_path):
    """A second interrupt, not the first one echoed, while the node is torn down: said in one
    line and ignored (it used to land in pytest's reporting of the first, about 150 lines)."""
    results = tmp_path / "results"
    run = Run.start(cell_argv(CELL, results, "-v"), Path("/"), env)
    run.reach(OUTAGE)
    send(run, "itself", signal.SIGINT)
    run.reach(f"lrmatrix: interrupted by SIGINT {IN_OUTAGE}")  # the teardown begins
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == INTERRUPTED, run.output_after()
    assert "lrmatrix: SIGTERM again: already stopping after SIGINT" in run.output_after()
    assert_torn_down(run, results, f"interrupted by SIGINT {IN_OUTAGE}")
