"""Drivers as plugins: each one declares itself in its own folder (a ``Driver`` subclass) and is
registered by one line in the ``lrmatrix.drivers`` entry-point group (pyproject.toml), as
molecule registers its drivers in ``molecule.driver``.

The matrix schema, tox, the CI workflows and ``lrmatrix recover`` read these declarations
instead of naming drivers, so a driver is added without editing any of them. Lookup is lazy:
listing the drivers reads entry points only, and loading one imports its small declaration,
never its node (which may need paramiko or the kubernetes client).
"""

from __future__ import annotations

import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lrmatrix.errors import BadInput, EnvironmentProblem

if TYPE_CHECKING:
    from pydantic import BaseModel

    from lrmatrix.drivers.base import Node
    from lrmatrix.drivers.spec import NodeSpec
    from lrmatrix.matrix.model import Matrix

GROUP = "lrmatrix.drivers"


class Driver:
    """What a driver says about itself, apart from its node: a class, never instantiated."""

    #: the node-spec scheme (``engine://``) and the ``driver`` of a matrix platform
    scheme: ClassVar[str]
    #: pip extras of lrmatrix its cells need (a cell's tox env installs them)
    extras: ClassVar[tuple[str, ...]] = ()
    #: tox labels of its cells (``tox -m engine``), besides the platform's own
    tox_labels: ClassVar[tuple[str, ...]] = ()
    #: tox settings of its cells' envs that differ from tox.ini's ``[testenv]`` (e.g. pass_env)
    tox_env: ClassVar[dict[str, Any]] = {}
    #: its cells run on any Linux box with root, as CI's runners are (tox label ``ci``)
    runs_in_ci: ClassVar[bool] = False
    #: its cells change the host itself (namespaces, iptables, a dockerd): CI runs them as root
    ci_needs_root: ClassVar[bool] = False
    #: the keys of ``[platforms.<name>]`` only this driver understands (a pydantic model whose
    #: fields the matrix schema adds to every platform table; set on another driver's platform,
    #: they are refused)
    platform_keys: ClassVar[type[BaseModel] | None] = None
    #: top-level tables of matrix.toml that belong to this driver (``[minikube]``)
    matrix_tables: ClassVar[dict[str, type[BaseModel]]] = {}
    #: ``recover --node <scheme>://...`` undoes a killed run on a node named so (ssh)
    recovers_by_name: ClassVar[bool] = False

    @classmethod
    def node_class(cls) -> type[Node]:
        """The node class, imported only now: it may need an optional dependency."""
        raise NotImplementedError(f"the {cls.scheme} driver names no node class")

    @classmethod
    def ci_setup(cls, matrix: Matrix) -> str | None:
        """Shell that prepares a CI runner for its cells (installs a tool); None: nothing."""
        return None

    @classmethod
    def recover(cls, matrix: Matrix, node: NodeSpec | None) -> int | None:
        """Undo what a killed run left, saying what on stdout: with ``node`` None, what this
        machine holds; else that node (only if ``recovers_by_name``). None: nothing was found;
        else the exit code (1: something could not be removed)."""
        return None


def report_residue(residue: list[str]) -> bool:
    """What a recover could not remove, on stderr in one line; whether there was any."""
    if residue:
        print(f"  could not remove: {'; '.join(residue)}", file=sys.stderr)
    return bool(residue)


def _checkout_entry_points() -> dict[str, str]:
    """The group as the source checkout's pyproject.toml declares it, when lrmatrix runs from
    one: tox loads toxfile.py with ``src/`` on sys.path, possibly from a tox that has no
    lrmatrix installed (no metadata), and an editable install's metadata may be older."""
    project = Path(__file__).resolve().parents[3] / "pyproject.toml"
    if Path(__file__).resolve().parents[2].name != "src" or not project.is_file():
        return {}
    data = tomllib.loads(project.read_text())
    if data.get("project", {}).get("name") != "lrmatrix":
        return {}
    return dict(data["project"].get("entry-points", {}).get(GROUP, {}))


@cache
def _entry_points() -> dict[str, metadata.EntryPoint]:
    """Installed distributions' entry points of the group; the checkout's own win by name."""
    found = {ep.name: ep for ep in metadata.entry_points(group=GROUP)}
    for name, value in _checkout_entry_points().items():
        found[name] = metadata.EntryPoint(name, value, GROUP)
    return dict(sorted(found.items()))


def names() -> list[str]:
    """The registered schemes, without loading any driver."""
    return list(_entry_points())


@cache
def get(scheme: str) -> type[Driver]:
    """One driver's declaration, loaded on first use; unknown schemes are one line."""
    entry = _entry_points().get(scheme)
    if entry is None:
        raise BadInput(f"unknown driver {scheme!r}; known: {', '.join(names())}")
    try:
        driver = entry.load()
    except Exception as exc:  # a broken plugin is the machine's problem, said in one line
        raise EnvironmentProblem(
            f"the {scheme} driver ({entry.value}, entry point group {GROUP}) cannot be loaded: {exc}"
        ) from None
    if not (isinstance(driver, type) and issubclass(driver, Driver)) or driver.scheme != scheme:
        raise EnvironmentProblem(
            f"the entry point {scheme} = {entry.value} ({GROUP}) is not a Driver with scheme {scheme!r}"
        )
    return driver


def drivers() -> dict[str, type[Driver]]:
    """Every registered driver's declaration, by scheme."""
    return {name: get(name) for name in names()}


def by_name() -> list[str]:
    """The schemes whose driver undoes a run on a node named with ``recover --node``."""
    return [d.scheme for d in drivers().values() if d.recovers_by_name]


def clear() -> None:
    """Forget what was looked up (a test that registers a driver on sys.path)."""
    _entry_points.cache_clear()
    get.cache_clear()
