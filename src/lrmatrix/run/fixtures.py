"""The fixtures every check of a cell gets, built-in or the user's own: the node's testinfra
``host``, the ``cell``, the ``node``, and the run's ``evidence`` so far.

The plugin registers this module once ``--cell`` is given, after testinfra's own plugin, so
``host`` is the node's (its network namespace, its ssh connection, ``minikube ssh``), wherever the test
file lives: in the package, in the user's ``infra_tests/``, or on the command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from lrmatrix.errors import LrmatrixError, NodeError
from lrmatrix.evidence.judge import Verdicts
from lrmatrix.evidence.records import Deployed
from lrmatrix.interrupts import say
from lrmatrix.modules.host import NodeHost
from lrmatrix.process import reap_orphans
from lrmatrix.run.cell_signals import INTERRUPTS_KEY
from lrmatrix.run.runner import Runner
from lrmatrix.run.session import CellRun
from lrmatrix.workload.snapshot import Snapshot

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.evidence.store import Evidence
    from lrmatrix.matrix.cells import Cell

KEY = pytest.StashKey[Runner]()
SESSION_KEY = pytest.StashKey[CellRun]()


def phase_of(item: pytest.Item) -> str | None:
    """The phase a check belongs to (its ``phase`` marker), if it names one."""
    marker = item.get_closest_marker("phase")
    return str(marker.args[0]) if marker else None


def finish(config: pytest.Config) -> None:
    """Tear down once and write the result; a second Ctrl-C must not leave the node half torn
    down."""
    run = config.stash.get(SESSION_KEY, None)
    if run is None:
        return
    interrupts = config.stash.get(INTERRUPTS_KEY, None)
    if interrupts is not None:  # from here on a signal is said, never raised
        interrupts.tearing_down = True
    if run.runner.status.interrupted is not None:  # why the next seconds are spent, before they are
        say(f"lrmatrix: {run.runner.status.interrupted}")
    try:
        run.finish()
    finally:
        reap_orphans(wait_s=0.2)


@pytest.fixture(scope="session")
def lrm_runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """The cell's run, set up once; its teardown runs whatever happened before."""
    run = request.config.stash[SESSION_KEY]
    runner = run.runner
    request.addfinalizer(lambda: finish(request.config))
    try:
        runner.setup()
    except LrmatrixError as exc:
        # one line and exit 2, not the same traceback under every test; the finalizer
        # above still tears the node down and writes the result with observed "error"
        runner.status.setup_error = exc
        pytest.exit(f"{runner.cell.name}: {exc}", returncode=exc.exit_code)
    except Exception as exc:  # a harness bug: keep its traceback, but let the result say what
        runner.status.setup_error = NodeError(f"setup failed: {type(exc).__name__}: {exc}")
        raise
    except KeyboardInterrupt:
        # pytest runs no finalizer of a fixture whose setup raised something other than an
        # Exception (FixtureDef.finish: no cached result): tear down and write the result here
        finish(request.config)
        raise
    yield runner


@pytest.fixture(scope="session")
def host(lrm_runner: Runner) -> NodeHost:
    """testinfra host whose commands run on the node (the engine node's namespace, ssh, ...),
    with the node's own modules beside testinfra's (``host.lrm_dockerd``, ``host.lrm_processes``)."""
    return lrm_runner.node.testinfra_host()


@pytest.fixture(scope="session")
def cell(lrm_runner: Runner) -> Cell:
    return lrm_runner.cell


@pytest.fixture(scope="session")
def node(lrm_runner: Runner) -> Node:
    return lrm_runner.node


@pytest.fixture(scope="session")
def evidence(lrm_runner: Runner) -> Evidence:
    """The run's evidence records so far (read them by type: ``evidence.last(Snapshot)``)."""
    return lrm_runner.evidence


@pytest.fixture
def workload(lrm_runner: Runner) -> Any:
    """The workload's handle: its container names, ports and image."""
    return lrm_runner.evidence.require(Deployed).workload


@pytest.fixture
def before(lrm_runner: Runner) -> Snapshot:
    """The containers and their processes just before the disruption."""
    return lrm_runner.evidence.require(Snapshot, which="before")


@pytest.fixture
def after(lrm_runner: Runner) -> Snapshot:
    """The containers and their processes once the daemon was back."""
    return lrm_runner.evidence.require(Snapshot, which="after")


@pytest.fixture
def verdicts(lrm_runner: Runner) -> Verdicts:
    """The verdicts as the evidence stands (the one judgement the result also uses)."""
    return lrm_runner.verdicts()


@pytest.fixture
def held_down(lrm_runner: Runner) -> None:
    """Checks of a daemon held down for a window: a package-upgrade cell (its commands
    restart dockerd) and a respawn cell (the service manager does) hold none: skipped."""
    cell = lrm_runner.cell
    if not cell.held_down:
        kind = "package-upgrade" if cell.upgrade_command else "respawn"
        pytest.skip(f"a {kind} cell: dockerd is restarted by the node itself, nothing holds it down")
