"""Scratch folders whose name records their owner, so a later run can tell a stale one.

An image build and an engine fetch work in a temporary folder (25 MB and 71 MB) and remove it
when they end, also on an exception. A SIGKILL leaves it. The folder's name carries the pid
and start time of the process that made it (recorded the instant it exists, by ``mkdtemp``),
so the next run or `lrmatrix recover` removes those whose owner is gone, never one a live
run is using, whatever cache folder that run uses.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock
import psutil

#: <prefix><pid>-<start time in centiseconds since the epoch>-<mkdtemp's random part>
OWNER = re.compile(r"(\d+)-(\d+)-")


def _me() -> str:
    return f"{os.getpid()}-{_started(os.getpid())}-"


def _started(pid: int) -> int:
    return round(psutil.Process(pid).create_time() * 100)


def make(parent: Path, prefix: str) -> Path:
    """A new folder in ``parent`` named ``<prefix><owner>-...``."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{_me()}", dir=parent))


@contextlib.contextmanager
def folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A scratch folder for the ``with`` block, removed when it ends, however it ends."""
    path = make(parent, prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def owner_alive(name: str, prefix: str) -> bool | None:
    """Whether the process that made ``name`` still runs (the same pid and start time: a
    recycled pid is not the owner); None for a name that records no owner."""
    found = OWNER.match(name.removeprefix(prefix)) if name.startswith(prefix) else None
    if found is None:
        return None
    pid, started = int(found.group(1)), int(found.group(2))
    try:
        return abs(_started(pid) - started) <= 1
    except psutil.Error:
        return False


def stale(parent: Path, prefix: str, unowned: bool = False) -> list[Path]:
    """Scratch entries in ``parent`` whose owner is gone; with ``unowned`` also those whose
    name records none (made by an lrmatrix before owners were recorded: only a caller that
    holds the lock every maker held can tell that they are stale)."""
    try:
        entries = sorted(parent.glob(f"{prefix}*"))
    except OSError:
        return []
    gone = (False, None) if unowned else (False,)
    return [e for e in entries if owner_alive(e.name, prefix) in gone]


def remove_stale(parent: Path, prefix: str, unowned: bool = False) -> list[Path]:
    """Remove the stale scratch entries of ``parent``; the ones removed."""
    removed = []
    for path in stale(parent, prefix, unowned):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        if not path.exists():
            removed.append(path)
    return removed


def cleanup(lock_file: Path, remove_stale: Callable[[bool], list[Path]]) -> list[Path]:
    """For `lrmatrix recover`: ``remove_stale`` of a cache folder, told whether it holds the
    folder's lock (taken only if nobody holds it: recover never waits for a running build)."""
    if not lock_file.parent.is_dir():
        return []
    try:
        with filelock.FileLock(lock_file, thread_local=False).acquire(blocking=False):
            return remove_stale(True)
    except filelock.Timeout:
        return remove_stale(False)
