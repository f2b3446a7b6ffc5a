"""The user's own checks: ``infra_tests/`` beside the matrix in use, run with the built-in ones.

The layout of the design: a repository holds ``matrix/`` and ``infra_tests/`` side by side.
The plugin adds that folder to every cell run however it was started (a tox cell env,
``lrmatrix run``, a plain ``pytest --cell``), so that no way in forgets it; more folders or
files given on the command line (``tox -e CELL -- more_checks/``) are collected as well. A
check outside the package's built-in folder is a user check: the result names its file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lrmatrix.options import INFRA_TESTS
from lrmatrix.run.sequence import PHASES

#: the folder of user checks, beside ``matrix/``
FOLDER = "infra_tests"
#: where a check without a phase marker runs: the daemon is back and the workload has been
#: seen again, the moment a check of "my containers are fine" means something
DEFAULT_PHASE = "after"


def folder_beside(matrix_dir: Path) -> Path | None:
    """``infra_tests/`` beside the matrix folder, if there is one (never the package's own)."""
    found = matrix_dir.parent / FOLDER
    if not found.is_dir() or found.resolve() == INFRA_TESTS.resolve():
        return None
    return found


def _covered(args: Sequence[str], folder: Path, rootdir: Path) -> bool:
    """Whether an argument names ``folder``, a file or folder in it, or a folder above it."""
    target = folder.resolve()
    for arg in args:
        path = (rootdir / arg.split("::")[0]).resolve()
        if path == target or path in target.parents or target in path.parents:
            return True
    return False


def with_folder(args: Sequence[str], folder: Path, rootdir: Path) -> list[str]:
    """pytest's arguments with ``folder`` added, unless an argument already names it (given
    twice, pytest would run its checks twice)."""
    return list(args) if _covered(args, folder, rootdir) else [*args, str(folder)]


def with_builtins(args: Sequence[str], rootdir: Path) -> list[str]:
    """A plain ``pytest --cell CELL`` in a repository of your own runs the built-in checks too;
    one naming them, or some of them (a path, ``--pyargs lrmatrix.infra_tests...``), is kept."""
    if any(a.startswith("lrmatrix.infra_tests") for a in args) or _covered(args, INFRA_TESTS, rootdir):
        return list(args)
    return [str(INFRA_TESTS), *args]


def source(item: pytest.Item, project: Path) -> str | None:
    """The file of a user check (relative to the folder holding ``matrix/`` when it is under
    it); ``None`` for a built-in one."""
    path = Path(item.path).resolve()
    if INFRA_TESTS.resolve() in path.parents:
        return None
    try:
        return str(path.relative_to(project.resolve()))
    except ValueError:
        return str(path)


def default_phase_line(unmarked: Sequence[str]) -> str:
    """The one line that says where checks without a phase marker went."""
    many = len(unmarked) > 1
    names = ", ".join(unmarked[:3]) + (f" and {len(unmarked) - 3} more" if len(unmarked) > 3 else "")
    return (
        f"{len(unmarked)} check{'s' if many else ''} without a phase marker run{'' if many else 's'} "
        f"in the {DEFAULT_PHASE} phase ({names}); "
        f"mark one @pytest.mark.phase(NAME), NAME one of {', '.join(PHASES)}"
    )
