"""Checks that run before a node is touched, for what a run writes on this machine.

A results folder that turns out to be a file, or read-only, used to be found at the end,
after the node had been disrupted and the evidence was lost; two runs of one cell into one
folder both "passed" while one result silently replaced the other. Both are refused here,
before anything changes, with one line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import filelock

from lrmatrix.errors import BadInput, LrmatrixError


def writable_folder(folder: Path, what: str, fix: str, error: type[LrmatrixError] = BadInput) -> None:
    """A file can be created in ``folder``, or in the folder that would hold it if it does not
    exist yet (nothing is made here: a refused run leaves nothing behind); otherwise one line
    naming ``what`` (the option or variable it came from) and ``fix``."""
    existing = folder
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise error(f"{what} {folder}: {existing} is a file, not a folder; {fix}")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise error(f"{what} {folder} is not writable ({exc.strerror}); {fix}") from None


class ResultLock:
    """One run per cell and results folder: held for the run's whole life, so a second run of
    the same cell into the same folder is refused instead of overwriting the first's evidence.
    Other cells into the same folder (``tox -p``) are not affected. The holder writes its pid
    into the lock file (filelock leaves a held file's contents to its holder), so the refusal
    says whose run it is."""

    def __init__(self, folder: Path, cell: str) -> None:
        self.path = folder / f".{cell}.lock"
        self.cell = cell
        self._lock = filelock.FileLock(self.path, thread_local=False, on_acquired=_write_pid)

    def acquire(self) -> ResultLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            try:
                holder = self.path.read_text(errors="replace").strip() or "?"
            except OSError:  # released meanwhile
                holder = "?"
            raise BadInput(
                f"another run of {self.cell} (pid {holder}) is writing its result to "
                f"{self.path.parent}; wait for it to finish or pass another --results-dir"
            ) from None
        return self

    def release(self) -> None:
        """Remove the file while still holding it (no lock file is left among the results):
        whoever opened it meanwhile holds a removed file, which filelock does not count as
        held."""
        if self._lock.is_locked:
            self.path.unlink(missing_ok=True)
            self._lock.release(force=True)


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
