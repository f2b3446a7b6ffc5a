"""When a scenario's fault was in force, so that a check can read what the probe's clients saw
in that span (``checks/clients.py``). Registers nothing."""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.evidence.records import Record


@dataclass(frozen=True)
class FaultSpan(Record):
    """``what`` was in force from ``start`` to ``end`` (monotonic, the run's clock); ``end``
    None: until the daemon's start command (a fault made while it is down, undone by nothing
    but its start)."""

    what: str
    start: float
    end: float | None
