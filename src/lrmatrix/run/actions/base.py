"""The one interface of every step of a cell's sequence.

``run(ctx)`` does it on the node and returns the evidence records it saw (the runner keeps
them); ``describe(cell)`` says what it does in one line for ``lrmatrix plan``, and an action
that waits says until what and for how long at most. Which actions a platform runs, and in
which phase, is listed in ``lrmatrix.run.sequence``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from lrmatrix.evidence.records import Record
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


class Action(ABC):
    """One step of a cell's sequence."""

    name: ClassVar[str]
    #: a wait: ``describe`` reads "until ..., up to N s"
    waits: ClassVar[bool] = False

    @abstractmethod
    def run(self, ctx: Context) -> Iterable[Record]:
        """Do it on ``ctx.node``; the records of what was seen."""

    @abstractmethod
    def describe(self, cell: Cell) -> str:
        """One line for ``lrmatrix plan``: what is done (or waited for, and how long at most)."""

    def waits_in(self, cell: Cell) -> bool:
        """Whether it waits in ``cell`` (most actions do or don't whatever the cell)."""
        return self.waits

    def refuses_node(self, scheme: str) -> str | None:
        """Why it must not run on a node of driver ``scheme`` (``None``: it may), asked before
        anything changes, so a cell that would stop half way on a node of yours never starts."""
        return None


def until(what: str, seconds: float) -> str:
    """How ``plan`` shows a wait: what ends it, and its bound."""
    return f"until {what}, up to {seconds:g} s"
