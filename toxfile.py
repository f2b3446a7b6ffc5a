"""tox plugin: one tox env per cell of the matrix, named like the cell.

matrix/matrix.toml (or the matrix in $LRMATRIX_MATRIX) is the only list of cells, so a cell
added there is a tox env with no other edit. Cell envs inherit ``[testenv]`` from tox.ini;
their command (``pytest --pyargs lrmatrix.infra_tests`` with the cell's options, built by
lrmatrix.options like every other way in) and what differs per driver (extras, passed
variables, labels: what each driver declares, lrmatrix.drivers.registry) are seeded here
with tox 4's ``MemoryLoader``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import psutil
from tox.config.loader.memory import MemoryLoader
from tox.config.sets import ConfigSet, EnvConfigSet
from tox.config.types import Command, EnvList
from tox.plugin import impl
from tox.session.state import State
from tox.tox_env.api import ToxEnv

ROOT = Path(__file__).resolve().parent
# the checkout's sources: tox itself may run from a virtualenv without lrmatrix installed
sys.path.insert(0, str(ROOT / "src"))

from lrmatrix.drivers import registry  # noqa: E402
from lrmatrix.errors import INTERRUPTED, LrmatrixError  # noqa: E402
from lrmatrix.interrupts import Forwarder  # noqa: E402
from lrmatrix.matrix.cells import Cell, find_matrix_dir, load_matrix  # noqa: E402
from lrmatrix.options import RESULTS_DIR, pytest_args  # noqa: E402

#: harness envs that read every cell's result, so they run after the cells
AFTER_CELLS = ("report", "upgrade-gate")
#: harness envs that load the machine for minutes: run together with them (`tox -m ci -p 2`),
#: the cells wait for them, so that the figures the gate compares are not the load's (a cell
#: beside them on 2 cores lost 8 % of its probe coverage and the gate called it a regression)
BEFORE_CELLS = ("integration", "integration-interrupts", "integration-faults", "integration-nodes",
                "integration-nodes-systemd")  # fmt: skip


@cache
def cells() -> tuple[Cell, ...]:
    """The matrix's cells; an invalid matrix ends tox with the matrix's own one-line reason."""
    try:
        folder = find_matrix_dir(ROOT)
        return load_matrix(folder).cells
    except LrmatrixError as exc:
        print(f"tox: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cell_command(cell: Cell, tox_root: Path, posargs: tuple[str, ...] | None) -> Command:
    """The cell's pytest run; ``tox -e CELL -- --node ssh://…`` adds options (default -q)."""
    results = tox_root / RESULTS_DIR
    junit = f"--junitxml={results / (cell.name + '.xml')}"
    args = pytest_args(cell.name, results, junit, *(posargs if posargs is not None else ("-q",)))
    return Command(["pytest", "--pyargs", "lrmatrix.infra_tests", *args])


def cell_settings(cell: Cell, tox_root: Path, posargs: tuple[str, ...] | None) -> dict[str, Any]:
    """The tox settings of one cell env: what its driver declares, and the cell's own."""
    driver = registry.get(cell.driver)
    settings: dict[str, Any] = dict(driver.tox_env)
    if driver.extras:  # else [testenv]'s
        settings["extras"] = list(driver.extras)
    settings["commands"] = [cell_command(cell, tox_root, posargs)]
    # a cell that needs a node of yours is not in its platform's label: `tox -m engine` runs here
    labels = [*driver.tox_labels, *(() if cell.needs_node else (cell.platform,))]
    if driver.runs_in_ci:  # on any Linux box with root; the others need a cluster or a node of yours
        labels.append("ci")
    expects = cell.expect + "".join(f", {path}: {v}" for path, v in sorted(cell.expect_paths.items()))
    settings["labels"] = labels
    k8s = f"Kubernetes {cell.kubernetes}: " if cell.kubernetes else ""
    settings["description"] = f"{k8s}{cell.description} [expects {expects}]"
    return settings


#: tox's own answer to SIGTERM and SIGHUP is to die, leaving its commands running unattended;
#: to SIGINT, a SIGINT to them, a wait of interrupt_timeout, and exit 1 without their result.
#: Instead the first interrupt is passed on to tox's children and tox waits for them (a cell
#: tears its node down and exits 130), starts nothing more, and exits 130; a second one is
#: tox's own stop (tox.ini: interrupt_timeout, terminate_timeout).
FORWARDER: list[Forwarder] = []


def pass_interrupts_on(state: State) -> None:
    """Set in tox's main thread (the only one that may set signal handlers) before any env runs."""
    if FORWARDER or threading.current_thread() is not threading.main_thread():
        return

    def stop(_: str) -> None:
        state.conf.options.fail_fast = True  # tox's --fail-fast: no env is started after this
        atexit.register(exit_interrupted)

    waits_for = "them (a cell tears its node down first)"
    forwarder = Forwarder(psutil.Process().children, "tox", waits_for, escalate=True, on_first=stop)
    FORWARDER.append(forwarder.install())


def exit_interrupted() -> None:
    """tox's exit code comes from its envs' results: an installer stopped by the signal would
    make it -15 (241), a cell run before the signal 0. An interrupted tox exits 130 whatever
    stopped where, like ``lrmatrix run`` (the last thing at exit: tox's own reporting is done)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)


def refuse_after_interrupt() -> None:
    """Nothing starts once tox was interrupted: this env's result is 130."""
    if FORWARDER and FORWARDER[0].received:
        raise SystemExit(INTERRUPTED)


@impl
def tox_on_install(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> None:
    refuse_after_interrupt()


@impl
def tox_before_run_commands(tox_env: ToxEnv) -> None:
    refuse_after_interrupt()


@impl
def tox_extend_envs() -> Iterable[str]:
    return [c.name for c in cells()]


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    pass_interrupts_on(state)
    tox_root = Path(core_conf["tox_root"])
    posargs = state.conf.pos_args(None)
    for cell in cells():
        loader = MemoryLoader(**cell_settings(cell, tox_root, posargs))
        state.conf.memory_seed_loaders[cell.name].append(loader)


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:
    if env_conf.name in AFTER_CELLS:
        env_conf.loaders.insert(0, MemoryLoader(depends=EnvList([c.name for c in cells()])))
    elif (cell := next((c for c in cells() if c.name == env_conf.name), None)) is not None:
        # tox orders only envs of one run; and one cell after another of its driver: three side
        # by side starved their probes' schedulers (86 % coverage, inconclusive) on 2 cores
        same = [c.name for c in cells() if c.driver == cell.driver]
        before = same[: same.index(cell.name)][-1:]
        env_conf.loaders.insert(0, MemoryLoader(depends=EnvList([*BEFORE_CELLS, *before])))
