"""pytest plugin: ``--cell`` binds a pytest run to one matrix cell.

Inert unless ``--cell`` is given. It validates the cell and runs the driver's sanity checks
before anything changes (exit 2 with one line), orders tests by phase, drives the runner
between phases, records every test as a check, and always tears the node down, also on
Ctrl-C, SIGTERM, SIGHUP or its parent's exit (``lrmatrix.run.cell_signals``), before writing
``results/<cell>.json``. The checks' fixtures (``host``, ``cell``, ``node``, ``evidence``, ...)
are in ``lrmatrix.run.fixtures``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrmatrix import options, preflight
from lrmatrix.drivers import NodeSpec, make_node
from lrmatrix.errors import BadInput, LrmatrixError
from lrmatrix.evidence.records import SkippedCheck, Stopped, WindowEnded
from lrmatrix.evidence.upgrade import Upgraded
from lrmatrix.matrix import engine_match
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.process import become_subreaper
from lrmatrix.report.live import LiveLine
from lrmatrix.results import files
from lrmatrix.run import fixtures, user_checks
from lrmatrix.run.cell_signals import take_signals
from lrmatrix.run.fixtures import KEY, SESSION_KEY, phase_of
from lrmatrix.run.runner import Runner
from lrmatrix.run.sequence import PHASES
from lrmatrix.run.session import CellRun

LOCK_KEY = pytest.StashKey[preflight.ResultLock]()
LIVE_KEY = pytest.StashKey[LiveLine]()
REFUSED_KEY = pytest.StashKey[str]()  # the one line a refusal before the run printed on stderr
PROJECT_KEY = pytest.StashKey[Path]()  # the folder holding matrix/ (and the user's infra_tests/)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("lrmatrix")
    group.addoption("--cell", help="run the node checks against this matrix cell (see `lrmatrix cells`)")
    options.add_all(group.addoption)
    # so that -n is refused in words, not a usage dump, when xdist will not offer it: not
    # installed, or a cell run's (options.CELL_PLUGINS: no autoload, this plugin loaded by name)
    by_name = pluginmanager.get_plugin(__name__) is not None
    if by_name or importlib.util.find_spec("xdist") is None:
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None, help=argparse.SUPPRESS)


#: a cell is one node taken through one scenario by one process; xdist would run it per worker
PARALLEL_REFUSED = (
    "pytest -n (xdist) would run the scenario once per worker on one node; leave out -n "
    "(cells run side by side as separate runs: lrmatrix run CELL..., tox -p)"
)


def _refuse_parallel(config: pytest.Config) -> None:
    """Refused before anything is built: without xdist -n is ours to refuse; with it, only a cell run."""
    given = config.getoption("numprocesses", None)
    ours = not config.pluginmanager.hasplugin("xdist")
    if given not in (None, 0, "0") and (ours or config.getoption("--cell")):
        pytest.exit(PARALLEL_REFUSED, returncode=BadInput.exit_code)


def _interrupted(config: pytest.Config, signal_name: str) -> None:
    """Say in the result what stopped the run and where, before teardown moves the phase on."""
    runner = config.stash.get(KEY, None)
    if runner is None or runner.status.interrupted is not None or runner.status.finished:
        return
    phase = runner.status.phase or "setup"
    stopped, window = runner.evidence.last(Stopped), runner.evidence.last(WindowEnded)
    if stopped is None:
        state = "before the daemon was stopped"
    elif runner.evidence.last(Upgraded) is not None and window is None:
        state = "while the upgrade commands ran; a command still running is let finish before the restore"
    elif window is None:
        state = "while the daemon was stopped; teardown brings the node back from there"
    else:
        state = "after the daemon was started again"
    runner.status.interrupted = f"interrupted by {signal_name} in the {phase} phase, {state}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "phase(name): the scenario phase a node check belongs to")
    _refuse_parallel(config)
    cell_name = config.getoption("--cell")
    if not cell_name:
        return
    try:
        matrix = load_matrix()
        cell = matrix.cell(cell_name)
        spec_text = config.getoption("--node")
        given = options.driver_options(vars(config.option))
        node = make_node(cell, NodeSpec.parse(spec_text, given) if spec_text else None, given)
        # the evidence must have somewhere to go before the node is disrupted for it
        results_dir = Path(config.getoption("--results-dir"))
        preflight.writable_folder(results_dir, "--results-dir", "pass a folder you can write to")
        files.check_target(results_dir, cell.name)
    except LrmatrixError as exc:
        pytest.exit(str(exc), returncode=exc.exit_code)
    project = matrix.source.parent.parent
    user_folder = user_checks.folder_beside(matrix.source.parent)
    here = config.invocation_params.dir
    config.args[:] = user_checks.with_builtins(config.args, here)
    if user_folder is not None:  # collected by every way in: tox, lrmatrix run, plain pytest
        config.args[:] = user_checks.with_folder(config.args, user_folder, here)
    config.stash[PROJECT_KEY] = project
    runner = Runner(cell, node, config.getoption("--image"))
    config.stash[KEY] = runner
    config.stash[SESSION_KEY] = CellRun(runner, results_dir)
    config.pluginmanager.register(_Recorder(runner, project), "lrmatrix-recorder")
    config.pluginmanager.register(_Evidence(config), "lrmatrix-evidence")
    # registered after testinfra's plugin: its ``host`` is the node's, not this machine's
    config.pluginmanager.register(fixtures, "lrmatrix-fixtures")
    take_signals(config, _interrupted)
    become_subreaper()


def _refuse_unfit_node(runner: Runner) -> None:
    """A node whose Docker the cell was not measured on, or that one of its actions must not
    touch, is refused before anything changes (one line, exit 2)."""
    if engine_match.expected_docker(runner.cell):
        version = runner.node.engine_version()
        why = engine_match.refusal(runner.cell, runner.node.name or "this machine", version)
        if why:
            raise BadInput(why)
    for action in runner.sequence.actions():
        why = action.refuses_node(runner.node.scheme)
        if why:
            raise BadInput(f"{runner.cell.name}: {why}; run it on the engine driver (without --node)")


def pytest_sessionstart(session: pytest.Session) -> None:
    run = session.config.stash.get(SESSION_KEY, None)
    if run is None:
        return
    runner = run.runner
    try:
        runner.node.sanity_checks()
        _refuse_unfit_node(runner)
        caveat = runner.node.node_path_caveat()
        others = runner.node.other_containers()
        # said before the run goes on: the verdict's reason repeats the caveat, the result the notice
        notes = [f"caveat: {caveat}" if caveat else None, others.notice() if others is not None else None]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for note in filter(None, notes):
                reporter.write_line(f"lrmatrix: {note}", yellow=True)
        image_ref = session.config.getoption("--image")
        if image_ref and not runner.node.can_pull:
            raise BadInput(
                f"--image {image_ref}: an {runner.node.scheme} node cannot pull (no route to a "
                "registry); leave --image out to use the offline-built nginx image"
            )
        # last of the checks: the first thing a run leaves on this machine (until it ends)
        lock = preflight.ResultLock(run.results_dir, runner.cell.name)
        session.config.stash[LOCK_KEY] = lock.acquire()
    except LrmatrixError as exc:
        session.config.stash[REFUSED_KEY] = str(exc)
        pytest.exit(str(exc), returncode=exc.exit_code)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    live = LiveLine.start(runner, reporter._tw) if reporter is not None else None
    if live is not None:
        session.config.stash[LIVE_KEY] = live


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_live(config)
    lock = config.stash.get(LOCK_KEY, None)
    if lock is not None:
        lock.release()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KEY not in config.stash:
        return
    for item in items:
        phase = phase_of(item)
        if phase is not None and phase not in PHASES:
            raise pytest.UsageError(f"{item.nodeid}: unknown phase {phase!r}; use {PHASES}")
    # never silently lost: a check without a phase runs (and is recorded) in the default one
    unmarked = [item for item in items if phase_of(item) is None]
    for item in unmarked:
        item.add_marker(pytest.mark.phase(user_checks.DEFAULT_PHASE))
    if unmarked:
        project = config.stash[PROJECT_KEY]
        names = [f"{user_checks.source(i, project) or i.nodeid.split('::')[0]}::{i.name}" for i in unmarked]
        line = f"lrmatrix: {user_checks.default_phase_line(names)}"
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line, yellow=True)
        else:
            print(line, file=sys.stderr)
    items.sort(key=lambda it: PHASES.index(phase_of(it) or PHASES[0]))


@pytest.fixture(autouse=True)
def _lrm_phase(request: pytest.FixtureRequest) -> None:
    """Before a phase-marked test, bring the run to that phase."""
    phase = phase_of(request.node)
    if phase is None or KEY not in request.config.stash:
        return
    runner: Runner = request.getfixturevalue("lrm_runner")
    runner.advance(phase)


class _Recorder:
    """Every node check lands in the result file, with its phase, a one-line reason and, for a
    user check, its file."""

    def __init__(self, runner: Runner, project: Path) -> None:
        self.runner = runner
        self.project = project

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        phase = phase_of(item)
        if phase is not None:
            item.user_properties.append(("phase", phase))
        where = user_checks.source(item, self.project)
        if where is not None:
            item.user_properties.append(("source", where))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call"):
            return
        if report.when == "setup" and report.passed:
            return
        props = dict(report.user_properties)
        phase, where = props.get("phase"), props.get("source")
        if phase is None:
            return
        check_id = report.nodeid.split("::")[-1]
        source = None if where is None else str(where)
        if report.skipped:  # kept apart: compare gates on a check that ran before and now did not
            self.runner.keep(SkippedCheck(check_id, str(phase), _skip_reason(report), source))
            return
        detail = "" if report.passed else _one_line(report)
        self.runner.record(str(phase), check_id, report.passed, detail, source)


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
            run = self.config.stash[SESSION_KEY]
            # a write that fails has no file name on it: pytest's JUnit XML is what writes here
            report = exc.filename or getattr(self.config.option, "xmlpath", None) or "a report"
            with contextlib.suppress(OSError, TypeError):  # a truncated XML reads as a broken CI run
                Path(report).unlink(missing_ok=True)
            print(
                f"lrmatrix: {report}: not written ({exc.strerror or exc}); "
                f"the result was written first: {run.path or 'nowhere, see above'}",
                file=sys.stderr,
            )
            pytest_sessionfinish(session, exitstatus)  # skipped when an earlier one raised
        return None


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
    run = session.config.stash.get(SESSION_KEY, None)
    if run is None:
        return
    code = run.exit_code(session.exitstatus)
    if code is not None:
        session.exitstatus = code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(SESSION_KEY, None)
    if run is None or (run.result is None and not run.unchecked):
        return
    tr = terminalreporter
    tr.section(f"lrmatrix {run.runner.cell.name}")
    for line, colour in run.summary_lines():
        tr.line(line, **({colour: True} if colour else {}))
