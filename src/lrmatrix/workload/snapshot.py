"""A snapshot of the workload: its containers from the API and their processes from /proc."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.evidence.records import Snapshot

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.workload.containers import PodContainers, Workload


def capture(node: Node, workload: Workload | PodContainers, which: str = "check") -> Snapshot:
    """Containers and their process trees (shim, main process, children), as they are now."""
    containers = workload.snapshot()
    trees = node.processes.trees([c.pid for c in containers if c.pid])
    procs = {c.name: (trees.get(c.pid, []) if c.pid else []) for c in containers}
    return Snapshot(which, containers, procs)
