"""When a new dockerd started, in a cell whose node starts it by itself (a package upgrade's
``systemctl restart``, a service manager's respawn): the harness sees it only when a look at
the node's processes finds it, up to a look's period and round trip after it started. Its own
start time in /proc says when; the last look that found none bounds that from below.

That start ends "while down": a request failing after it meets the new daemon's restart blip
(it rebuilds its NAT chain), as after the start command of the cells that start it themselves,
not a node with no daemon.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lrmatrix.errors import LrmatrixError

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node

FROM_PROC = "its start time in /proc"
FROM_LOOK = "the last sample without it"


def read_starts(node: Node, pids: Iterable[int]) -> tuple[dict[int, float], list[str]]:
    """The /proc start of each new dockerd on the harness clock (``Processes.started``), and
    why a read failed: the last look without it is then the start."""
    starts: dict[int, float] = {}
    errors: list[str] = []
    for pid in pids:
        try:
            at = node.processes.started(pid, "dockerd")
        except LrmatrixError as exc:
            errors.append(f"start of dockerd {pid}: {type(exc).__name__}: {exc}")
            continue
        if at is not None:
            starts[pid] = at
    return starts, errors


def new_start(last_without: float, read: Iterable[float]) -> tuple[float, str]:
    """When the new dockerd started and what says so: the earliest /proc start of the new pids,
    unless a look after it found none (a read a round trip off); then that look."""
    earliest = min(read, default=None)
    if earliest is not None and earliest > last_without:
        return earliest, FROM_PROC
    return last_without, FROM_LOOK
