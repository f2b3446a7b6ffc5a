"""tox plugin: one tox env per cell of the project's matrix, named like the cell.

Loaded through the ``tox`` entry point wherever lrmatrix is installed beside tox (a user's
tox.ini that ``requires`` lrmatrix), and by the checkout's own toxfile.py. The project's
``matrix/matrix.toml`` (found from tox's folder upward, or $LRMATRIX_MATRIX) is the only list
of cells, so a cell added there is a tox env with no other edit; a project without a matrix of
its own gets no env from here (lrmatrix installed beside tox must not add cells to every
project). Cell envs inherit ``[testenv]``; their command (``pytest --pyargs
lrmatrix.infra_tests`` with the cell's options, built by lrmatrix.options like every other way
in; the plugin adds the user's ``infra_tests/``) and what differs per driver (extras, passed
variables, labels: lrmatrix.drivers.registry) are seeded with tox 4's ``MemoryLoader``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from tox.config.loader.memory import MemoryLoader
from tox.config.sets import ConfigSet, EnvConfigSet
from tox.config.types import Command, EnvList
from tox.plugin import impl
from tox.session.state import State
from tox.tox_env.api import ToxEnv

from lrmatrix import __version__
from lrmatrix.drivers import registry
from lrmatrix.errors import INTERRUPTED, LrmatrixError
from lrmatrix.interrupts import Forwarder
from lrmatrix.matrix.cells import Cell, load_matrix, own_matrix_dir
from lrmatrix.options import RESULTS_DIR, pytest_args


@dataclass
class Project:
    """What a project's toxfile.py may set: our checkout sets its root (the cell envs then
    install the checkout's own package, ``[testenv]``'s ``package = wheel``) and its CI order."""

    #: where the matrix is looked for; ``None``: tox's working folder
    root: Path | None = None
    #: harness envs the cells wait for (``depends``), and those that wait for every cell
    before_cells: tuple[str, ...] = ()
    after_cells: tuple[str, ...] = ()
    #: cells of one driver that ``tox -p N`` may run at once: each waits for the one this many
    #: places before it (1: one after another, the safe default on a small machine)
    cells_side_by_side: int = 1


PROJECT = Project()


@cache
def _cells(root: Path) -> tuple[Cell, ...]:
    try:
        folder = own_matrix_dir(root)
        return () if folder is None else load_matrix(folder).cells
    except LrmatrixError as exc:  # an invalid matrix ends tox with the matrix's own one-line reason
        print(f"tox: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cells() -> tuple[Cell, ...]:
    """The project's cells (none without a matrix of its own)."""
    return _cells((PROJECT.root or Path.cwd()).resolve())


def cell_command(cell: Cell, tox_root: Path, posargs: tuple[str, ...] | None) -> Command:
    """The cell's pytest run; ``tox -e CELL -- --node ssh://…`` adds options (default -q), and
    ``tox -e CELL -- more_checks/`` more checks."""
    results = tox_root / RESULTS_DIR
    junit = f"--junitxml={results / (cell.name + '.xml')}"
    args = pytest_args(cell.name, results, junit, *(posargs if posargs is not None else ("-q",)))
    return Command(["pytest", "--pyargs", "lrmatrix.infra_tests", *args])


def installed_lrmatrix(extras: tuple[str, ...]) -> str:
    """The requirement of the very lrmatrix this tox runs: the file it was installed from, or
    its version (PyPI's "lrmatrix" is another project: never a bare name)."""
    name = f"lrmatrix[{','.join(extras)}]" if extras else "lrmatrix"
    try:
        direct = json.loads(metadata.distribution("lrmatrix").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        direct = {}
    url = direct.get("url", "")
    return f"{name} @ {url}" if url.startswith("file://") else f"{name}=={__version__}"


def cell_settings(cell: Cell, tox_root: Path, posargs: tuple[str, ...] | None) -> dict[str, Any]:
    """The tox settings of one cell env: what its driver declares, and the cell's own."""
    driver = registry.get(cell.driver)
    settings: dict[str, Any] = dict(driver.tox_env)
    if PROJECT.root is None:  # a user's project is no package: the env installs this lrmatrix
        settings["skip_install"] = True
        settings["deps"] = [installed_lrmatrix(driver.extras or ("ssh",))]  # [testenv]'s in ours
    elif driver.extras:  # else [testenv]'s
        settings["extras"] = list(driver.extras)
    settings["commands"] = [cell_command(cell, tox_root, posargs)]
    # a cell that needs a node of yours is not in its platform's label: `tox -m engine` runs here
    labels = [*driver.tox_labels, *(() if cell.needs_node else (cell.platform,))]
    if driver.runs_in_ci:  # on any Linux box with root; the others need a cluster or a node of yours
        labels.append("ci")
    if cell.scenario is not None:  # `tox -m scenarios`; in CI only the few chosen by their duration
        labels = ["scenarios", *(["ci"] if cell.scenario.ci and driver.runs_in_ci else [])]
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
    if not cells():  # not a project of ours: tox as it is
        return
    pass_interrupts_on(state)
    tox_root = Path(core_conf["tox_root"])
    posargs = state.conf.pos_args(None)
    for cell in cells():
        loader = MemoryLoader(**cell_settings(cell, tox_root, posargs))
        state.conf.memory_seed_loaders[cell.name].append(loader)


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:
    if env_conf.name in PROJECT.after_cells:
        env_conf.loaders.insert(0, MemoryLoader(depends=EnvList([c.name for c in cells()])))
    elif (cell := next((c for c in cells() if c.name == env_conf.name), None)) is not None:
        # tox orders only envs of one run; and at most cells_side_by_side cells of a driver at
        # once: three side by side starved their probes' schedulers (86 % coverage) on 2 cores
        same = [c.name for c in cells() if c.driver == cell.driver]
        place, width = same.index(cell.name), max(1, PROJECT.cells_side_by_side)
        before = [same[place - width]] if place >= width else []
        env_conf.loaders.insert(0, MemoryLoader(depends=EnvList([*PROJECT.before_cells, *before])))
