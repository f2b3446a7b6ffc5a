"""Scenario actions and checks by name, found by importing every module of ``actions/`` and
``checks/``: a scenario helper adds a module and edits no list.

An action is an ``Action`` (``lrmatrix.run.actions.base``) dataclass decorated with
``@action``; its fields are the ``params`` a scenario gives it in matrix.toml. A check is a
function ``(ctx) -> Seen`` decorated with ``@check(name, phase=...)``: it reads the node (and
the records the scenario's actions returned, ``ctx.evidence``) in that phase, after the
phase's actions ran.

This module imports no other part of lrmatrix, type-only imports included (the matrix loader
asks it for names, and the run's modules name the matrix's types): ``Action`` and ``Context``
are ``Any`` here; the modules it discovers import what they need.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeVar

#: ``lrmatrix.run.actions.base.Action`` and ``lrmatrix.run.context.Context`` (see above)
Action = Any
Context = Any


class Seen(Protocol):
    """``lrmatrix.scenarios.observation.Seen``."""

    value: str
    detail: str


#: library names as matrix.toml writes them
NAME = re.compile(r"^[a-z][a-z0-9-]*$")
#: the packages whose modules are discovered
PACKAGES = ("lrmatrix.scenarios.actions", "lrmatrix.scenarios.checks")

A = TypeVar("A", bound=type)


@dataclass(frozen=True)
class CheckSpec:
    """A named check: the phase whose checks it runs with, and the function that looks."""

    name: str
    phase: str
    look: Callable[[Context], Seen]
    module: str
    #: the part of a measured value this run's node can show (``None``: all of it), e.g. the
    #: access paths an ssh node's probe reaches of the three an engine node's does
    narrow: Callable[[str, Context], str] | None = None

    @property
    def about(self) -> str:
        """Its docstring's first line, for ``lrmatrix plan`` and the docs."""
        return (self.look.__doc__ or self.name).strip().splitlines()[0].replace("``", "")


_ACTIONS: dict[str, type[Action]] = {}
_CHECKS: dict[str, CheckSpec] = {}


def _claim(kind: str, name: str, module: str, taken: dict[str, Any]) -> None:
    if not NAME.match(name):
        raise ValueError(f"{module}: the scenario {kind} name {name!r} does not match {NAME.pattern}")
    if name in taken:
        other = taken[name].__module__ if kind == "action" else taken[name].module
        raise ValueError(f"{module}: the scenario {kind} {name!r} is already registered by {other}")


def action(cls: A) -> A:
    """Register an Action subclass under its ``name``."""
    _claim("action", cls.name, cls.__module__, _ACTIONS)
    _ACTIONS[cls.name] = cls
    return cls


def check(
    name: str, phase: str = "after", narrow: Callable[[str, Context], str] | None = None
) -> Callable[[Callable[[Context], Seen]], Callable[[Context], Seen]]:
    """Register a check under ``name``, run in ``phase`` (its actions done, before the next)."""

    def register(look: Callable[[Context], Seen]) -> Callable[[Context], Seen]:
        _claim("check", name, look.__module__, _CHECKS)
        _CHECKS[name] = CheckSpec(name, phase, look, look.__module__, narrow)
        return look

    return register


@cache
def discover() -> None:
    """Import every module of the action and check packages (once): each registers its own."""
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            importlib.import_module(f"{package}.{info.name}")


def actions() -> dict[str, type[Action]]:
    discover()
    return dict(_ACTIONS)


def checks() -> dict[str, CheckSpec]:
    discover()
    return dict(_CHECKS)


def make_action(name: str, params: dict[str, Any]) -> Action:
    """The action ``name`` with ``params``; ``KeyError`` if unknown, ``TypeError`` or
    ``ValueError`` if the params do not fit it."""
    return actions()[name](**params)


def look(name: str, ctx: Context) -> tuple[CheckSpec, Seen]:
    """Run check ``name`` on the run's node (``lrmatrix.scenarios.observe`` makes the record)."""
    spec = checks()[name]
    return spec, spec.look(ctx)
