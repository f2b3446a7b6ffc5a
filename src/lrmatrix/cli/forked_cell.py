"""``lrmatrix run``'s cell as a fork of itself, made after the imports the cell's pytest needs,
so that each cell does not pay again for pytest, testinfra and lrmatrix's own modules (about
0.6 CPU-s a cell on the 2-core CI machine, docs/performance-probe.md). The child is what
``python -m pytest`` on the node checks would be: the same arguments, exit code, output and
signals, a process of its own that tears its node down when its parent dies; it is named
``lrmatrix-cell`` (``ps -e``, ``pgrep lrmatrix-cell``) since its command line is the parent's.

The two plugin modules themselves are not imported before the fork: pytest marks every ``-p``
plugin for assertion rewriting and warns about one that was imported before it.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import importlib
import importlib.util
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import psutil

from lrmatrix import process
from lrmatrix.errors import INTERRUPTED
from lrmatrix.interrupts import INTERRUPT_SIGNALS

#: what ``ps -e`` and ``pgrep`` call the cell (the kernel keeps 15 characters)
NAME = "lrmatrix-cell"
#: the cell's plugins (options.CELL_PLUGINS): their imports are made before the fork
PLUGINS = ("lrmatrix.plugin", "testinfra.plugin")


def imports_of(module: str) -> Iterator[str]:
    """The modules ``module``'s source imports at its top (``from a import b`` gives ``a.b``
    when b is a module, else ``a``), read without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield sub if _is_module(sub) else node.module


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def warm() -> None:
    """Import what a cell's pytest imports first: pytest's built-in plugins and what the cell's
    plugins import (a module missing here is imported by the child as before, never an error)."""
    from _pytest.config import default_plugins

    names = [f"_pytest.{p}" for p in default_plugins]
    names += [m for plugin in PLUGINS for m in imports_of(plugin) if m != "__future__"]
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def start(argv: Sequence[str], env: Mapping[str, str], before: Callable[[], None]) -> psutil.Process:
    """Fork the cell: ``argv`` is ``python -m pytest ARGS`` (options.cell_argv), ``env`` what the
    child adds to its environment, ``before`` what the child undoes first (the parent's signal
    handlers). Interrupts are held back across the fork, so that each process takes one with
    its own handlers."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # the child must not write the parent's buffered output again
    held = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
    pid = os.fork()
    if pid == 0:
        _child(list(argv), env, before, held)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return psutil.Process(pid)


def _child(argv: list[str], env: Mapping[str, str], before: Callable[[], None], held: set[int]) -> None:
    """The cell: pytest's own console entry with the cell's arguments, ended as an interpreter
    that ran ``python -m pytest`` ends (its threads waited for, its atexit handlers run, none
    of the parent's); never returns."""
    code = 1
    try:
        atexit._clear()  # the parent's handlers are the parent's to run
        before()
        _close_inherited_fds()
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        process.prctl(process.PR_SET_NAME, NAME.encode())  # /proc/PID/comm
        os.environ.update(env)
        import pytest

        sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *argv[3:]]
        sys.path[0] = str(Path.cwd())  # as `python -m pytest` has it (the console script's folder here)
        code = int(pytest.console_main())
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:  # before pytest took signals over: nothing was made on the node yet
        code = INTERRUPTED
    except BaseException:  # the child must reach os._exit whatever happens
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            threading._shutdown()  # type: ignore[attr-defined] # non-daemon threads, as at exit
            atexit._run_exitfuncs()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exit_code(code: object) -> int:
    """What Python exits with for ``sys.exit(code)``: 0 for None, the int, else 1 after printing
    it on stderr."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _close_inherited_fds() -> None:
    """Close what ``lrmatrix run`` inherited from its own caller beyond stdin, stdout and stderr
    (a CI runner's pipes), as the new process it used to start with ``close_fds`` did not get
    them; descriptors Python opened itself are not inheritable (PEP 446) and stay."""
    for entry in Path("/proc/self/fd").iterdir():
        fd = int(entry.name)
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed meanwhile
            if fd > 2 and os.get_inheritable(fd):
                os.close(fd)
