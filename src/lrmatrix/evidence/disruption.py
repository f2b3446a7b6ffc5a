"""The disruption's timeline, read from the records the actions returned: when the stop was
sent, when the daemon was gone, when it was started and answered, when the change began, and
whether it came back by itself. One function, so nothing keeps a second copy of these times.
"""

from __future__ import annotations

from lrmatrix.evidence.records import ChangeBegun, DaemonWatched, NotBack, Started, Stopped, WindowEnded
from lrmatrix.evidence.store import Evidence
from lrmatrix.evidence.verdict import Disruption


def disruption(evidence: Evidence, origin: float = 0.0) -> Disruption:
    """``origin`` (the run's start, monotonic) only words the times in reasons."""
    stopped = evidence.last(Stopped)
    window = evidence.last(WindowEnded)
    started = evidence.last(Started)
    change = evidence.last(ChangeBegun)
    watched = evidence.last(DaemonWatched)
    not_back = evidence.last(NotBack)
    return Disruption(
        stop_at=stopped.stop_at if stopped else None,
        stopped_at=stopped.stopped_at if stopped else None,
        start_at=window.start_at if window else None,
        api_at=started.api_at if started else None,
        change_at=change.change_at if change else None,
        came_back_at=watched.came_back_at if watched else None,
        came_back=watched.came_back if watched else "",
        not_back=not_back.reason if not_back and window and not started else "",
        origin=origin,
    )
