"""What the harness's own tests need from this machine, and what a missing piece does.

Outside CI a test whose prerequisite is missing is skipped, its reason naming what to install.
Under CI (``CI=true``) such a skip would turn a broken install step into a green run that never
ran those tests, so the run fails instead: after collection, before any test starts, with one
line naming each missing prerequisite (and at run time, for one found only then).

A prerequisite is a reason string, or None when it is there: ``needs(reason)`` marks a test,
``require(reason)`` stops one (or a fixture, or a module being imported) where it stands.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from types import ModuleType

import pytest

MARK = "prereq"
MARK_HELP = f"{MARK}(reason): skipped outside CI when reason is set; under CI=true the run fails naming it"
#: which Debian package brings each command the engine node uses
PACKAGES = {"dockerd": "docker.io", "iptables": "iptables", "ip": "iproute2", "nsenter": "util-linux"}


def in_ci() -> bool:
    """CI providers (and .ci/run) set CI=true; a missing prerequisite is then a failure."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def needs(reason: str | None) -> pytest.MarkDecorator:
    """A mark: the test needs what ``reason`` says is missing (None: nothing is missing)."""
    return getattr(pytest.mark, MARK)(reason)


def require(reason: str | None) -> None:
    """Stop here if ``reason`` is set: a failure naming it under CI, else a skip naming it."""
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and a prerequisite is missing: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def import_module(name: str, install: str) -> ModuleType:
    """``pytest.importorskip`` whose skip says what to install, and which fails under CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        require(f"python module {name} is not installed ({install})")
        raise  # require() raised already; this keeps the type checker's flow honest


def command(name: str, package: str) -> str | None:
    """Why ``name`` cannot run here (naming the package that brings it), or None."""
    return None if shutil.which(name) else f"{name} is not installed (apt-get install {package})"


def engine_ready() -> str | None:
    """Why engine-node tests cannot run here, or None when they can (root + docker.io)."""
    if os.geteuid() != 0:
        return "needs root (sudo; engine nodes are network namespaces with their own dockerd)"
    for cmd, package in PACKAGES.items():
        reason = command(cmd, package)
        if reason:
            return reason
    return None


def reasons(item: pytest.Item) -> list[str]:
    """The missing prerequisites of one collected test."""
    return [m.args[0] for m in item.iter_markers(MARK) if m.args and m.args[0]]


def missing(items: Iterable[pytest.Item]) -> Counter[str]:
    """Each missing prerequisite of the selected tests, with how many tests need it."""
    return Counter(reason for item in items for reason in dict.fromkeys(reasons(item)))


def ci_line(found: Counter[str]) -> str:
    """The one line a CI run fails with: every missing prerequisite and how many tests it hides."""
    parts = [f"{reason} ({n} test{'s' if n != 1 else ''})" for reason, n in found.items()]
    return "CI=true and a prerequisite is missing: " + "; ".join(parts)
