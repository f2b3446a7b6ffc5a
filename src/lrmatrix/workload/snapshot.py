"""A snapshot of the workload: its containers from the API and their processes from /proc."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lrmatrix.evidence.records import Record

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.modules.processes import ProcInfo
    from lrmatrix.workload.containers import ContainerState, PodContainers, Workload


@dataclass(frozen=True)
class Snapshot(Record):
    """Containers (from the API) and their processes (from /proc): shim, main process, children."""

    which: str  # "before" the disruption, "after" the restart, or "check" (taken by a check)
    containers: list[ContainerState]
    procs: dict[str, list[ProcInfo]] = field(default_factory=dict)

    def all_procs(self) -> list[ProcInfo]:
        return [p for group in self.procs.values() for p in group]


def capture(node: Node, workload: Workload | PodContainers, which: str = "check") -> Snapshot:
    """Containers and their process trees (shim, main process, children), as they are now."""
    containers = workload.snapshot()
    trees = node.processes.trees([c.pid for c in containers if c.pid])
    procs = {c.name: (trees.get(c.pid, []) if c.pid else []) for c in containers}
    return Snapshot(which, containers, procs)
