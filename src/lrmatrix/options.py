"""Every option of a cell run, declared once.

The pytest plugin registers them, ``lrmatrix run`` parses them and passes the same flags on
to the cell's pytest, and toxfile.py builds each cell env's command from ``pytest_args``: a
new option is added here and nowhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the node checks, installed with the package: found wherever the matrix folder is
INFRA_TESTS = Path(__file__).resolve().parent / "infra_tests"
#: where results/<cell>.json goes unless --results-dir says otherwise
RESULTS_DIR = "results"


@dataclass(frozen=True)
class Option:
    """One flag of a cell run; ``driver`` ones also reach the node driver as its options."""

    flag: str
    help: str
    switch: bool = False
    default: str | None = None
    driver: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


CELL_OPTIONS: tuple[Option, ...] = (
    Option("--results-dir", f"where <cell>.json is written (default: {RESULTS_DIR})", default=RESULTS_DIR),
    Option("--node", "node spec overriding the cell's driver, e.g. ssh://user@host[:port]"),
    Option(
        "--allow-disruption",
        "allow stopping the Docker daemon of an existing node (ssh driver)",
        switch=True,
        driver=True,
    ),
    Option("--kube-context", "the only kubeconfig context the run may use", driver=True),
    Option(
        "--keep",
        "keep the minikube profile for the next run (default: the last cell of a version deletes it)",
        switch=True,
        driver=True,
    ),
    Option(
        "--image",
        "workload image the node can pull (e.g. nginx:alpine); default: an nginx image built "
        "offline from Debian packages",
    ),
)


def add_all(add: Callable[..., Any]) -> None:
    """Register every option through ``add`` (argparse's add_argument or pytest's addoption)."""
    for o in CELL_OPTIONS:
        if o.switch:
            add(o.flag, action="store_true", help=o.help)
        else:
            add(o.flag, default=o.default, help=o.help)


def passthrough(values: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> list[str]:
    """The flags that reproduce ``values`` (parsed options by dest) on a cell's command line;
    options left at their default are left out."""
    argv: list[str] = []
    for o in CELL_OPTIONS:
        value = values.get(o.dest)
        if o.flag in skip or not value or value == o.default:
            continue
        argv += [o.flag] if o.switch else [o.flag, str(value)]
    return argv


def driver_options(values: Mapping[str, Any]) -> dict[str, str]:
    """The options a node driver reads (NodeSpec/make_node), as the strings a node spec
    carries; one not given is absent, so the driver's own default (or environment) decides."""
    out: dict[str, str] = {}
    for o in CELL_OPTIONS:
        value = values.get(o.dest)
        if o.driver and value:
            out[o.dest] = "true" if o.switch else str(value)
    return out


#: the plugins of a cell run, and only these: autoloaded, pytest would load every plugin the
#: venv holds (pytest-randomly reorders tests, the phases among them) and assert-rewrite every
#: module of each one's distribution, lrmatrix's own ~120 too, with no bytecode cache under
#: PYTHONDONTWRITEBYTECODE: ~0.4 CPU-s of each cell's start. More plugins: ``-p NAME``
#: after the cell's options, or PYTEST_PLUGINS. pytest's unraisableexception plugin is left
#: out: it runs a full garbage collection as a session ends (twice: 76 ms of a cell's CPU in
#: cProfile) to turn exceptions raised in ``__del__`` into warnings; Python still prints them.
CELL_PLUGINS = (
    "--disable-plugin-autoload",
    "-p",
    "testinfra.plugin",
    "-p",
    "lrmatrix.plugin",
    "-p",
    "no:unraisableexception",
)


def pytest_args(cell: str, results_dir: Path | str, *extra: str) -> list[str]:
    """What follows the node checks on the command line of any cell run."""
    own = ["--cell", cell, "--results-dir", str(results_dir), "-p", "no:cacheprovider"]
    return [*own, *CELL_PLUGINS, *extra]


def cell_argv(cell: str, results_dir: Path, *extra: str) -> list[str]:
    """The one way a cell is run from Python: pytest on the installed node checks with --cell
    (``lrmatrix run``, the benchmarks and the fault tests use it; tox envs run ``pytest_args``
    with --pyargs)."""
    return [sys.executable, "-m", "pytest", str(INFRA_TESTS), *pytest_args(cell, results_dir, *extra)]
