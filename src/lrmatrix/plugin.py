"""pytest plugin: ``--cell`` binds a run of ``lrmatrix.infra_tests`` to one matrix cell.

Inert unless ``--cell`` is given. It validates the cell and runs the driver's sanity checks
before anything changes (exit 2 with one line), orders tests by phase, drives the scenario
between phases, records every test as a check, and always tears the node down, also on
Ctrl-C, SIGTERM, SIGHUP or its parent's exit, before writing ``results/<cell>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pluggy
import pytest

from lrmatrix import options, preflight, process, results
from lrmatrix.deadline import poll
from lrmatrix.drivers import NodeSpec, make_node
from lrmatrix.errors import INTERRUPTED, BadInput, LrmatrixError, NodeError
from lrmatrix.interrupts import FirstSignal, catchable, mute_broken_outputs, say
from lrmatrix.live import LiveLine
from lrmatrix.matrix import load_matrix
from lrmatrix.scenario import PHASES, Scenario

KEY = pytest.StashKey[Scenario]()
RESULT_KEY = pytest.StashKey[Path]()
LOCK_KEY = pytest.StashKey[preflight.ResultLock]()
LIVE_KEY = pytest.StashKey[LiveLine]()
REFUSED_KEY = pytest.StashKey[str]()  # the one line a refusal before the run printed on stderr
INTERRUPTS_KEY = pytest.StashKey["_CellInterrupts"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lrmatrix")
    group.addoption(
        "--cell", help="run the node checks (--pyargs lrmatrix.infra_tests) against this matrix cell"
    )
    options.add_all(group.addoption)
    if importlib.util.find_spec("xdist") is None:  # so that -n is refused in words, not a usage dump
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None, help=argparse.SUPPRESS)


#: a cell is one node taken through one scenario by one process; xdist would run it per worker
PARALLEL_REFUSED = (
    "pytest -n (xdist) would run the scenario once per worker on one node; leave out -n "
    "(cells run side by side as separate runs: lrmatrix run CELL..., tox -p)"
)


def _refuse_parallel(config: pytest.Config) -> None:
    """Refused before anything is built: without xdist -n is ours to refuse; with it, only a cell run."""
    given = config.getoption("numprocesses", None)
    ours = importlib.util.find_spec("xdist") is None
    if given not in (None, 0, "0") and (ours or config.getoption("--cell")):
        pytest.exit(PARALLEL_REFUSED, returncode=BadInput.exit_code)


def _interrupted(config: pytest.Config, signal_name: str) -> None:
    """Say in the result what stopped the run and where, before teardown moves the phase on."""
    scenario = config.stash.get(KEY, None)
    if scenario is None or scenario.interrupted is not None or scenario.finished:
        return
    phase = scenario.phase or "setup"
    if scenario.stop_at is None:
        state = "before the daemon was stopped"
    elif scenario.upgrade is not None and scenario.start_at is None:
        state = "while the upgrade commands ran; a command still running is let finish before the restore"
    elif scenario.start_at is None:
        state = "while the daemon was stopped; teardown brings the node back from there"
    else:
        state = "after the daemon was started again"
    scenario.interrupted = f"interrupted by {signal_name} in the {phase} phase, {state}"


#: how long a SIGHUP waits for the parent to be seen gone (its threads exit one by one)
PARENT_EXIT_S = 0.3
#: code an interrupt is kept out of: pytest's and pluggy's own, and contextlib's exits. Raised
#: between two of their steps, KeyboardInterrupt abandons a hook wrapper (pytest's output
#: capture: a traceback at exit), or lands on a line pytest cannot show (pytest then fails
#: with a TypeError and exit 1); it is raised once the main thread is out of them (<= 1 s)
NOT_THERE = (
    str(Path(pluggy.__file__).parent),
    str(Path(inspect.getfile(pytest.Config)).parents[1]),  # _pytest
    contextlib.__file__,
)
RETRY_S, DEFER_AT_MOST_S = 0.005, 1.0


class _CellInterrupts:
    """The cell's handler of SIGINT, SIGTERM and SIGHUP.

    The first stops the run where it is (KeyboardInterrupt, once the result is told why). The
    same signal echoed right after it is the same interrupt (a Ctrl-C reaches the group, and
    ``lrmatrix run`` or tox passes its own copy on) and is dropped; a later one is said and
    ignored, so that pytest's reporting and the teardown finish. Once the teardown has begun
    nothing raises: a node half torn down is worse than a run that ends a few seconds later.
    A SIGHUP that comes because the parent died (``die_with_parent``) says so.
    """

    def __init__(self, config: pytest.Config, parent: int | None) -> None:
        self.config = config
        self.parent = parent
        self.first = FirstSignal()
        self.tearing_down = False
        self.deferred = False

    def orphaned(self, signum: int) -> bool:
        """Whether the parent is gone. The kernel sends SIGHUP when the parent *thread* that
        started us exits: under a SIGKILL that may come a moment before the whole parent is
        gone (tox starts commands from a worker thread), so a SIGHUP waits that moment out."""
        if self.parent is None:
            return False
        wait = PARENT_EXIT_S if signum == signal.SIGHUP else 0.0
        return bool(poll(lambda: os.getppid() != self.parent, wait, 0.01))

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.deferred and signum == self.first.signum:  # our own retry (or its echo)
            self.raise_when_clear(frame)
            return
        name = signal.Signals(signum).name
        if self.orphaned(signum):  # its output went to the parent: nothing reads it any more
            mute_broken_outputs()
            if signum == signal.SIGHUP:
                name = f"{name} (its parent, pid {self.parent}, exited)"
        if not self.first.take(signum, name):
            if not self.first.echo(signum):
                say(f"lrmatrix: {name} again: already stopping after {self.first.name}")
            return
        if self.tearing_down:
            say(f"lrmatrix: {name}: the teardown is under way and finishes first")
            return
        _interrupted(self.config, name)
        self.raise_when_clear(frame)

    def raise_when_clear(self, frame: FrameType | None) -> None:
        self.deferred = False
        if self.tearing_down:  # the run reached its teardown meanwhile: it finishes as it is
            return
        there = frame is not None and frame.f_code.co_filename.startswith(NOT_THERE)
        if there and time.monotonic() - self.first.at < DEFER_AT_MOST_S:
            self.deferred = True  # the same signal again a moment later: a real one, to the main
            main, signum = threading.main_thread().ident, self.first.signum  # thread, to end a sleep
            assert main is not None and signum is not None
            threading.Timer(RETRY_S, signal.pthread_kill, (main, signum)).start()
            return
        raise KeyboardInterrupt(self.first.name)


def _take_signals(config: pytest.Config) -> None:
    """Ctrl-C, tox, a CI runner or a service manager stopping the run, a closed terminal or SSH
    session, or the parent process dying: each ends in the same teardown. A signal ignored
    when the run started (``nohup``) stays ignored, and then a parent's exit does not stop it."""
    caught = catchable()
    parent = process.die_with_parent(signal.SIGHUP) if signal.SIGHUP in caught else None
    if parent is not None and os.getppid() != parent:
        pytest.exit(f"its parent (pid {parent}) exited before the cell began", returncode=INTERRUPTED)
    handler = _CellInterrupts(config, parent)
    config.stash[INTERRUPTS_KEY] = handler
    for sig in caught:
        signal.signal(sig, handler)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "phase(name): scenario phase of a node check")
    _refuse_parallel(config)
    cell_name = config.getoption("--cell")
    if not cell_name:
        return
    try:
        cell = load_matrix().cell(cell_name)
        spec_text = config.getoption("--node")
        given = options.driver_options(vars(config.option))
        node = make_node(cell, NodeSpec.parse(spec_text, given) if spec_text else None, given)
        # the evidence must have somewhere to go before the node is disrupted for it
        results_dir = Path(config.getoption("--results-dir"))
        preflight.writable_folder(results_dir, "--results-dir", "pass a folder you can write to")
        results.check_target(results_dir, cell.name)
    except LrmatrixError as exc:
        pytest.exit(str(exc), returncode=exc.exit_code)
    config.stash[KEY] = Scenario(cell, node, results_dir, config.getoption("--image"))
    config.pluginmanager.register(_Recorder(config.stash[KEY]), "lrmatrix-recorder")
    config.pluginmanager.register(_Evidence(config), "lrmatrix-evidence")
    _take_signals(config)
    process.become_subreaper()


def pytest_sessionstart(session: pytest.Session) -> None:
    scenario = session.config.stash.get(KEY, None)
    if scenario is None:
        return
    try:
        scenario.node.sanity_checks()
        caveat = scenario.node.node_path_caveat()
        others = scenario.node.other_containers()
        # said before the run goes on: the verdict's reason repeats the caveat, the result the notice
        notes = [f"caveat: {caveat}" if caveat else None, others.notice() if others is not None else None]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for note in filter(None, notes):
                reporter.write_line(f"lrmatrix: {note}", yellow=True)
        if scenario.image_ref and not scenario.node.can_pull:
            raise BadInput(
                f"--image {scenario.image_ref}: an {scenario.node.scheme} node cannot pull (no route to a "
                "registry); leave --image out to use the offline-built nginx image"
            )
        # last of the checks: the first thing a run leaves on this machine (until it ends)
        lock = preflight.ResultLock(scenario.results_dir, scenario.cell.name)
        session.config.stash[LOCK_KEY] = lock.acquire()
    except LrmatrixError as exc:
        session.config.stash[REFUSED_KEY] = str(exc)
        pytest.exit(str(exc), returncode=exc.exit_code)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    live = LiveLine.start(scenario, reporter._tw) if reporter is not None else None
    if live is not None:
        session.config.stash[LIVE_KEY] = live


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_live(config)
    lock = config.stash.get(LOCK_KEY, None)
    if lock is not None:
        lock.release()


def _phase(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("phase")
    return str(marker.args[0]) if marker else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KEY not in config.stash:
        return
    for item in items:
        phase = _phase(item)
        if phase is not None and phase not in PHASES:
            raise pytest.UsageError(f"{item.nodeid}: unknown phase {phase!r}; use {PHASES}")
    items.sort(key=lambda it: PHASES.index(_phase(it) or PHASES[0]))


@pytest.fixture(scope="session")
def lrm_scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    """The cell's scenario, set up once; its teardown runs whatever happened before."""
    scenario = request.config.stash.get(KEY, None)
    if scenario is None:
        pytest.skip("node checks need --cell CELL")
    request.addfinalizer(lambda: _finish(request.config, scenario))
    try:
        scenario.setup()
    except LrmatrixError as exc:
        # one line and exit 2, not the same traceback under every test; the finalizer
        # above still tears the node down and writes the result with observed "error"
        scenario.setup_error = exc
        pytest.exit(f"{scenario.cell.name}: {exc}", returncode=exc.exit_code)
    except Exception as exc:  # a harness bug: keep its traceback, but let the result say what
        scenario.setup_error = NodeError(f"setup failed: {type(exc).__name__}: {exc}")
        raise
    except KeyboardInterrupt:
        # pytest runs no finalizer of a fixture whose setup raised something other than an
        # Exception (FixtureDef.finish: no cached result): tear down and write the result here
        _finish(request.config, scenario)
        raise
    yield scenario


@pytest.fixture(autouse=True)
def _lrm_phase(request: pytest.FixtureRequest) -> None:
    """Before a phase-marked test, bring the scenario to that phase."""
    phase = _phase(request.node)
    if phase is None or KEY not in request.config.stash:
        return
    scenario: Scenario = request.getfixturevalue("lrm_scenario")
    scenario.advance(phase)


def _finish(config: pytest.Config, scenario: Scenario) -> None:
    interrupts = config.stash.get(INTERRUPTS_KEY, None)
    if interrupts is not None:  # from here on a signal is said, never raised
        interrupts.tearing_down = True
    if scenario.interrupted is not None:  # why the next seconds are spent, before they are
        say(f"lrmatrix: {scenario.interrupted}")
    try:
        path = scenario.finish()
        if path is not None:
            config.stash[RESULT_KEY] = path
    finally:
        process.reap_orphans(wait_s=0.2)


class _Recorder:
    """Every node check lands in the result file, with its phase and a one-line reason."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        phase = _phase(item)
        if phase is not None:
            item.user_properties.append(("phase", phase))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call"):
            return
        if report.when == "setup" and report.passed:
            return
        phase = dict(report.user_properties).get("phase")
        if phase is None:
            return
        if report.skipped:  # kept apart: compare gates on a check that ran before and now did not
            self.scenario.skipped_checks.append(
                {"id": report.nodeid.split("::")[-1], "phase": str(phase), "detail": _skip_reason(report)}
            )
            return
        detail = "" if report.passed else _one_line(report)
        self.scenario.record(str(phase), report.nodeid.split("::")[-1], report.passed, detail)


class _Evidence:
    """What a cell run says about its evidence, and only once: a refusal before the run is one
    line on stderr (pytest writes it there as "Exit: ...", then its terminal repeats it on
    stdout, where `tox -e CELL` showed it); a report written after the result (pytest's JUnit
    XML) that a full disk refuses is one line, not an INTERNALERROR traceback."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)  # after the terminal reporter has kept it for its summary
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        refused = self.config.stash.get(REFUSED_KEY, None)
        if refused is None or getattr(excinfo.value, "msg", None) != refused:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_keyboardinterrupt_memo"):
            reporter._keyboardinterrupt_memo = None  # pytest has no public switch for this line

    @pytest.hookimpl(wrapper=True, trylast=True)  # innermost: the terminal's summary still follows
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            scenario = self.config.stash[KEY]
            where = scenario.written.path if scenario.written else None
            # a write that fails has no file name on it: pytest's JUnit XML is what writes here
            report = exc.filename or getattr(self.config.option, "xmlpath", None) or "a report"
            with contextlib.suppress(OSError, TypeError):  # a truncated XML reads as a broken CI run
                Path(report).unlink(missing_ok=True)
            print(
                f"lrmatrix: {report}: not written ({exc.strerror or exc}); "
                f"the result was written first: {where or 'nowhere, see above'}",
                file=sys.stderr,
            )
            pytest_sessionfinish(session, exitstatus)  # skipped when an earlier one raised
        written = self.config.stash[KEY].written
        if written is not None and (written.problem or written.path is None) and session.exitstatus == 0:
            session.exitstatus = BadInput.exit_code  # not where it was asked to go: an environment problem


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")[:300]


def _one_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0][:300] if lines else "failed"


def _stop_live(config: pytest.Config) -> None:
    """The node is torn down by now: pytest's summary prints below, plain."""
    live = config.stash.get(LIVE_KEY, None)
    if live is not None:
        live.stop()
        del config.stash[LIVE_KEY]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_live(session.config)
    scenario = session.config.stash.get(KEY, None)
    if scenario is None:
        return
    if scenario.interrupted is not None:  # not 2 ("bad input, nothing changed"): its own code
        session.exitstatus = INTERRUPTED
        return
    if not scenario.finished:  # setup never ran (e.g. no test selected): nothing to undo
        return
    err = scenario.setup_error
    if err is not None:
        session.exitstatus = err.exit_code
    teardown_failed = any(not c["passed"] for c in scenario.checks if c["phase"] == "teardown")
    # the verdict decides even when its test was deselected (-k, -m): once the daemon was
    # stopped and started again, a behaviour other than the expected one is a failed run
    disrupted = scenario.stop_at is not None and scenario.start_at is not None
    verdicts = [scenario.verdict, *scenario.path_verdicts.values()]
    misbehaved = disrupted and any(v is None or not v.passed for v in verdicts)
    if (teardown_failed or misbehaved) and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    scenario = config.stash.get(KEY, None)
    if scenario is None or not scenario.finished:
        return
    tr = terminalreporter
    v = scenario.final["verdict"]
    tr.section(f"lrmatrix {scenario.cell.name}")
    if scenario.setup_error is not None:
        tr.line(f"error: {scenario.setup_error}", red=True)
    tr.line(
        f"expected {v['expected']}, observed {v['observed']}: "
        f"{'PASS' if v['passed'] else 'FAIL'} ({v['reason']})",
        green=v["passed"],
        red=not v["passed"],
    )
    for check in scenario.checks:
        if check["phase"] == "teardown":
            tr.line(f"teardown {check['id']}: {'ok' if check['passed'] else check['detail']}")
    others = scenario.node.other_containers()
    for line in others.summary() if others is not None else []:  # what the teardown did to them
        tr.line(line, yellow=True)
    if scenario.written is not None:  # the result goes to a fallback place rather than nowhere
        tr.line(scenario.written.line(), red=bool(scenario.written.problem))
    for problem in scenario.log_problems:
        tr.line(problem, yellow=True)
