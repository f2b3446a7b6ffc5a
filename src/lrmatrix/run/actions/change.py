"""Actions after the restart: wait until the probe saw every container again, change the
workload's configuration, and end the probe (the verdict is judged from what it saw)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.evidence.disruption import disruption
from lrmatrix.evidence.records import ChangeBegun, Deployed, Record, Recovered
from lrmatrix.evidence.serving import awaited, identities_of
from lrmatrix.run.actions.base import Action, until
from lrmatrix.run.background import PROBE, ProbeRun
from lrmatrix.workload.containers import Workload
from lrmatrix.workload.observed import OBSERVED

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class AwaitProbeRecovery(Action):
    """Until the probe itself has seen every container answer again (bounded by
    recover_timeout_s): an answer it gets only after the change began would count for the
    change, and a recovered container would read as never serving again. Containers the
    recovery wait found stopped for good are not waited for."""

    name: ClassVar[str] = "await"
    waits: ClassVar[bool] = True

    def run(self, ctx: Context) -> list[Record]:
        d = disruption(ctx.evidence)
        probe = ctx.running.get(PROBE, ProbeRun)
        if probe is None or d.stop_at is None or d.start_at is None:
            return []
        node = probe.probe.records.get("node")
        if node is not None:
            timings, stop_at, start_at = ctx.cell.timings, d.stop_at, d.start_at
            recovered = ctx.evidence.last(Recovered)
            stopped = set(recovered.stopped) if recovered is not None else set()
            # containers the daemon left stopped will not answer: not waited for
            gone = identities_of(list(node.samples), node.targets, stopped) if stopped else set()

            def answered() -> bool:
                return not awaited(list(node.samples), stop_at, start_at) - gone

            poll(answered, timings.recover_timeout_s, timings.probe_interval_s, ctx.clock.waits)
        return []

    def describe(self, cell: Cell) -> str:
        return until("the probe has seen every container answer again", cell.timings.recover_timeout_s)


class Change(Action):
    """The workload's configuration change; from its start on a failure is the change's own."""

    name: ClassVar[str] = "change"

    def run(self, ctx: Context) -> list[Record]:
        ctx.evidence.add(ChangeBegun(ctx.clock.now()), ctx.event("config changing"))
        self.apply(ctx)
        return [ctx.event("config changed")]

    @abstractmethod
    def apply(self, ctx: Context) -> None:
        """Change the configuration and wait until it is in effect."""


#: the reason the change phase's checks skip when the workload defines no change
NO_CHANGE = "no config change for this workload"


@dataclass(frozen=True)
class ChangeConfig(Change):
    """The workload's config file rewritten and its reload command run in each container;
    nothing for a workload that has no change step."""

    def run(self, ctx: Context) -> list[Record]:
        workload = ctx.evidence.require(Deployed).workload
        if workload.spec.observe is not None:
            return [ctx.event(OBSERVED)]
        assert isinstance(workload, Workload)
        if workload.spec.change is None:
            return [ctx.event(NO_CHANGE)]
        return super().run(ctx)

    def apply(self, ctx: Context) -> None:
        workload = ctx.evidence.require(Deployed).workload
        assert isinstance(workload, Workload)
        workload.apply_change()

    def describe(self, cell: Cell) -> str:
        spec = cell.workload
        if spec is None:
            return "change nginx's configuration in each container and reload it"
        if spec.observe is not None:
            return OBSERVED
        if spec.change is None:
            return NO_CHANGE
        return f"rewrite its config file and run `{' '.join(spec.change.reload)}` in each container"


@dataclass(frozen=True)
class StopBackground(Action):
    """The probe, the load and every watch end; the verdicts are judged from what they saw."""

    name: ClassVar[str] = "verdict"

    def run(self, ctx: Context) -> list[Record]:
        return ctx.running.stop_all()

    def describe(self, cell: Cell) -> str:
        return f"stop the probe; decide the verdict from its samples (expected: {cell.expect})"
