"""Reading a file a user points lrmatrix at (a result, the matrix): a regular file, bounded in
size and in nesting.

``report`` on a symlink to /dev/zero grew to 1.9 GB, on a FIFO it hung, and a matrix nested
3,000 levels deep ended in a 3,000-line RecursionError. Here the file is opened without
blocking and refused unless it is a regular file, read up to a limit, and a parsed document
deeper than any lrmatrix writes or reads is one line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lrmatrix.errors import BadInput

#: no document lrmatrix reads nests deeper (a result: 6 levels; the matrix: 5 plus daemon.json)
MAX_DEPTH = 32

KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_regular(path: Path, limit: int, fix: str) -> bytes:
    """The bytes of ``path`` (symlinks followed), or ``BadInput`` naming it, what it is and ``fix``.

    O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer before fstat can tell."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror}); {fix}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
            raise BadInput(f"{path}: {kind}, not a regular file; {fix}")
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise BadInput(
                    f"{path}: larger than {limit // (1 << 20)} MiB, more than lrmatrix reads; {fix}"
                )
        return b"".join(chunks)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror}); {fix}") from None
    finally:
        os.close(fd)


def too_deep(data: Any, limit: int = MAX_DEPTH) -> str | None:
    """The dotted key of the first value nested deeper than ``limit``, or ``None``."""
    return next((key for key, _, depth in walk(data) if depth > limit), None)


def walk(data: Any) -> Iterator[tuple[str, Any, int]]:
    """Every (dotted key, value, depth) of a parsed document, in document order, without
    recursion: a deep document cannot overflow the stack here."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, key, depth = stack.pop()
        yield key, value, depth
        children = [(child, join(key, name), depth + 1) for name, child in _children(value)]
        stack.extend(reversed(children))


def _children(value: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list):
        yield from enumerate(value)


def join(key: str, name: str | int) -> str:
    """``probes.node.windows[3]``: a list item is its key's index."""
    if isinstance(name, int):
        return f"{key}[{name}]"
    return f"{key}.{name}" if key else str(name)
