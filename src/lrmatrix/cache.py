"""The harness's cache folder (``LRMATRIX_CACHE_DIR``, /var/cache/lrmatrix): fetched engines and
the built nginx image, each trusted only while its files match the SHA-256 recorded when it
was made.

A truncated dockerd used to fail as "dockerd printed nothing", and an image tarball cut on a
tar boundary imported without a word; a file that no longer matches its record is now made
again, with one line saying why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import filelock

from lrmatrix import preflight
from lrmatrix.errors import EnvironmentProblem

ENV = "LRMATRIX_CACHE_DIR"
DEFAULT = "/var/cache/lrmatrix"
#: how long a run waits for another's fetch or build of the same thing (they take seconds)
LOCK_WAIT_S = 600.0

#: folders verified in this process, with the size and mtime of each file then: a later use
#: hashes again only if one of them changed (an engine is ~210 MB, hashed in ~0.3 s)
_verified: dict[Path, tuple[tuple[str, int, int], ...]] = {}


def root() -> Path:
    return Path(os.environ.get(ENV, DEFAULT))


def check() -> None:
    """One line, and nothing made, when the cache folder cannot be used (a file, read-only)."""
    named = ENV if os.environ.get(ENV) else "the cache folder"
    preflight.writable_folder(root(), named, f"set {ENV} to a folder root can write to", EnvironmentProblem)


def folder(name: str) -> Path:
    """``<cache>/<name>``, made if missing; one line instead of a traceback when it cannot be."""
    check()
    path = root() / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot make the cache folder {path} ({exc.strerror}); set {ENV}") from None
    return path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """The lock of one cache folder: one run fetches or builds, the others wait, then use it."""
    try:
        with filelock.FileLock(path, timeout=LOCK_WAIT_S, thread_local=False):
            yield
    except filelock.Timeout:
        raise EnvironmentProblem(f"{path} stayed locked for {LOCK_WAIT_S:.0f}s") from None


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def tree_hashes(top: Path, leave_out: tuple[str, ...] = ()) -> dict[str, str]:
    """{relative path: sha256} of every regular file under ``top`` (symlinks are not followed:
    the file they name is hashed where it is)."""
    return {
        str(p.relative_to(top)): sha256(p)
        for p in sorted(top.rglob("*"))
        if p.is_file() and not p.is_symlink() and str(p.relative_to(top)) not in leave_out
    }


def mismatch(top: Path, recorded: Mapping[str, str]) -> str | None:
    """Why the files under ``top`` are not the ones ``recorded`` ({relative path: sha256}),
    naming the first that differs; None when every one matches."""
    stamp = _stamp(top, recorded)
    if _verified.get(top) == stamp:
        return None
    for rel, want in recorded.items():
        path = top / rel
        if not path.is_file():
            return f"{rel} is missing"
        if sha256(path) != want:
            size = path.stat().st_size
            return f"{rel} does not match the SHA-256 recorded when it was made ({size} bytes now)"
    _verified[top] = stamp
    return None


def _stamp(top: Path, recorded: Mapping[str, str]) -> tuple[tuple[str, int, int], ...]:
    found = []
    for rel in recorded:
        try:
            st = (top / rel).stat()
        except OSError:
            return ()
        found.append((rel, st.st_size, st.st_mtime_ns))
    return tuple(found)


def write_json(path: Path, data: object) -> None:
    """A record replaced in one rename: a reader never sees half of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2))
    partial.replace(path)
