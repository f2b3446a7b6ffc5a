"""The engine driver's declaration (registered in pyproject.toml's ``lrmatrix.drivers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.drivers.registry import Driver, report_residue

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.drivers.spec import NodeSpec
    from lrmatrix.matrix.model import Matrix


class EngineDriver(Driver):
    """A dockerd the harness starts in a network namespace of this machine: what CI runs."""

    scheme = "engine"
    tox_labels = ("engine",)
    runs_in_ci = True
    ci_needs_root = True

    @classmethod
    def node_class(cls) -> type[Node]:
        from lrmatrix.drivers.engine.node import EngineNode

        return EngineNode

    @classmethod
    def recover(cls, matrix: Matrix, node: NodeSpec | None) -> int | None:
        """Engine nodes a killed harness left on this machine, with their containers'
        processes (found by cgroup also once their shims are gone)."""
        from lrmatrix.drivers.engine.node import EngineNode

        cells = [c for c in matrix.cells if c.driver == cls.scheme]
        nodes = EngineNode.leftovers(cells[0]) if cells else []
        if not nodes:
            return None
        EngineNode(cells[0]).sanity_checks()
        failed = False
        for leftover in nodes:  # one that cannot be removed does not keep the others
            print(f"removing leftover engine node {leftover.name}")
            leftover.destroy()
            residue = leftover.residue()
            leftover.release()
            failed = report_residue(residue) or failed
        return 1 if failed else 0
