"""The run's evidence store under a signal: the cell's handler reads it on the main thread,
possibly while that thread is inside a read of its own."""

from __future__ import annotations

import threading

from lrmatrix.evidence.records import Event
from lrmatrix.evidence.store import Evidence


def test_a_read_from_inside_a_read_returns_instead_of_hanging():
    """What a SIGINT mid-read does: the handler's ``last`` runs while ``all`` holds the lock
    (a plain lock hung a CI run there for good). On a thread, so a hang fails in 5 s."""
    evidence = Evidence()
    evidence.add(Event(1.0, "stopped"))
    seen: list[Event | None] = []

    def inside_a_read() -> None:
        with evidence._lock:  # where the main thread was when the signal came
            seen.append(evidence.last(Event))

    worker = threading.Thread(target=inside_a_read, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "a read inside a read hung"
    assert seen == [Event(1.0, "stopped")]
