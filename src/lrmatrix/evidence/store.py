"""The evidence of one run: an append-only list of typed records, read by type.

Actions return records and the runner adds them here; the checks, the verdict and the result
read them back by type. Nothing is overwritten: a later record of the same type (a log
pressure updated by the stall watch) is read with ``last``, the whole history with ``all``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, TypeVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record

R = TypeVar("R", bound=Record)


class Evidence:
    """Records in the order they were added (actions run one at a time; watchers' threads
    only hand theirs over through an action, but the lock keeps a reader safe regardless).
    Reentrant: a signal's handler runs on the main thread and reads the evidence (what stopped
    the run, where) even when it interrupted that thread inside ``all``; a plain lock hung the
    run there for good (a CI run's SIGINT mid-outage, seen with py-spy)."""

    def __init__(self) -> None:
        self._records: list[Record] = []
        self._lock = threading.RLock()

    def add(self, *records: Record | None) -> None:
        with self._lock:
            self._records.extend(r for r in records if r is not None)

    def extend(self, records: Iterable[Record] | None) -> None:
        self.add(*(records or ()))

    def all(self, kind: type[R], **match: Any) -> list[R]:
        """Every record of ``kind`` whose fields equal ``match``, oldest first."""
        with self._lock:
            found = [r for r in self._records if isinstance(r, kind)]
        return [r for r in found if all(getattr(r, k) == v for k, v in match.items())]

    def last(self, kind: type[R], **match: Any) -> R | None:
        found = self.all(kind, **match)
        return found[-1] if found else None

    def require(self, kind: type[R], **match: Any) -> R:
        """The last record of ``kind``; an error naming it when the run has none (yet)."""
        found = self.last(kind, **match)
        if found is None:
            what = kind.__name__ + "".join(f" {k}={v!r}" for k, v in match.items())
            raise NodeError(f"the run has no {what} evidence (an earlier step did not run)")
        return found

    def __len__(self) -> int:
        return len(self._records)
