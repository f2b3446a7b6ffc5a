"""Observe mode's setup action: no deploy. The user's containers, recorded by the node before
anything changed, become the cell's workload; how the probe tells them apart is said."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import BadInput
from lrmatrix.evidence.records import Deployed
from lrmatrix.run import setup_steps
from lrmatrix.run.actions.base import Action
from lrmatrix.workload.observed import ObservedContainers

if TYPE_CHECKING:
    from lrmatrix.evidence.records import Record
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class ObserveContainers(Action):
    """The observed containers as the workload: nothing loaded, created or published."""

    name: ClassVar[str] = "observe"

    def run(self, ctx: Context) -> list[Record]:
        spec = ctx.cell.workload
        others = ctx.node.other_containers()
        if spec is None or spec.observe is None or others is None or not others.observed:
            raise BadInput(
                f"{ctx.cell.name} observes containers of a node of yours: run it with --node ssh://user@host"
            )
        workload = ObservedContainers.find(ctx.node, spec, [c.id for c in others.observed])
        setup_steps.reached("containers-started")
        return [
            Deployed(workload, ctx.clock.now()),
            ctx.event("observed", ", ".join(workload.names)),
            ctx.event("identity", workload.identity()),
        ]

    def describe(self, cell: Cell) -> str:
        spec = cell.workload
        what = spec.observe.describe() if spec is not None and spec.observe is not None else "none"
        return f"observe {what} on the node: nothing loaded, created, published or removed"
