"""Log drivers across the restart (goharbor/harbor#8031, moby#34804): ticker containers, one
per log driver, whose lines carry the node's uptime, and the node's uptime at the stop and after
the restart, so a check can tell the lines written while the daemon was down."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry, ticker

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

PREFIX = "lrm-log-"


@dataclass(frozen=True)
class LogWriters(Record):
    """The ticker of each log driver, by driver."""

    containers: dict[str, str]


@registry.action
@dataclass(frozen=True)
class StartLogWriters(Action):
    """One ticker per log driver (``--log-driver``), before the stop."""

    name: ClassVar[str] = "start-log-writers"
    drivers: list[str] = field(default_factory=lambda: ["local"])

    def __post_init__(self) -> None:
        if not self.drivers or len(set(self.drivers)) != len(self.drivers):
            raise ValueError("drivers must name at least one log driver, each once")
        for d in self.drivers:
            if not d.replace("-", "").isalnum():
                raise ValueError(f"{d!r} is no log driver name")

    def run(self, ctx: Context) -> Iterable[Record]:
        names = {d: f"{PREFIX}{d}" for d in self.drivers}
        for driver, name in names.items():
            ticker.start(ctx, name, "--log-driver", driver)
        return [LogWriters(names)]

    def describe(self, cell: Cell) -> str:
        return "run a ticker with --log-driver " + ", ".join(self.drivers)


@registry.action
@dataclass(frozen=True)
class MarkNodeTime(Action):
    """The node's uptime now, by ``label`` (``down`` after the stop, ``up`` after the restart):
    the clock the tickers' lines carry."""

    name: ClassVar[str] = "mark-node-time"
    label: str = "down"

    def __post_init__(self) -> None:
        if self.label not in ("down", "up"):
            raise ValueError(f"label must be 'down' or 'up', not {self.label!r}")

    def run(self, ctx: Context) -> Iterable[Record]:
        return [ticker.NodeTime(self.label, ticker.uptime(ctx))]

    def describe(self, cell: Cell) -> str:
        return f"read the node's uptime ({self.label})"
