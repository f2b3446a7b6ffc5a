"""The runner of one cell: its platform's sequence, phase by phase, on its node.

baseline -> disrupt -> outage -> recover -> after -> change -> teardown. Entering a phase runs
that phase's actions (``lrmatrix.run.sequence``); the node checks of each phase run in between.
Each action returns evidence records, which the runner keeps (``Evidence``); the result is built
from them (``lrmatrix.results.build``). The runner itself holds where the run is, never what
it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrmatrix.errors import KeepNode, LrmatrixError, NodeError
from lrmatrix.evidence.judge import Verdicts, judge
from lrmatrix.evidence.other_containers import CHECK_ID as OTHERS_CHECK
from lrmatrix.evidence.records import (
    Check,
    Event,
    NodeFacts,
    NotBack,
    PhaseSpan,
    Record,
    SavedLog,
    Started,
    WindowEnded,
)
from lrmatrix.evidence.store import Evidence
from lrmatrix.run import live_restore, setup_steps
from lrmatrix.run.actions.change import StopBackground
from lrmatrix.run.clock import RunClock
from lrmatrix.run.context import Context, Running, Services
from lrmatrix.run.sequence import PHASES, sequence_for

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell


@dataclass
class Status:
    """Where the run is and what stopped it, if anything (never what it saw)."""

    phase: str | None = None
    aborted: str | None = None  # a transition failed: what, and where
    setup_error: LrmatrixError | None = None
    interrupted: str | None = None  # what stopped the run, and where (set by the plugin)
    finished: bool = False

    @property
    def stopped_by(self) -> str | None:
        """Why the run did not go on, in words (an interrupt says so before any error)."""
        return self.interrupted or (str(self.setup_error) if self.setup_error else None) or self.aborted


class Runner:
    """Runs a cell's sequence on its node and keeps the evidence its actions return."""

    def __init__(
        self,
        cell: Cell,
        node: Node,
        image_ref: str | None = None,
        services: Services | None = None,
        clock: RunClock | None = None,
    ) -> None:
        self.cell = cell
        self.node = node
        self.sequence = sequence_for(cell, image_ref)
        self.clock = clock or RunClock()
        self.evidence = Evidence()
        self.running = Running()
        self.status = Status()
        self.ctx = Context(cell, node, self.clock, self.evidence, self.running, services or Services())

    # --- setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        """The node made, live-restore applied, the workload deployed and answering, the probe
        running; then the baseline phase."""
        ctx = self.ctx
        start = self.clock.now()
        self.node.create()
        caveat = self.node.node_path_caveat()
        self.keep(ctx.timing("node_start_s", start), ctx.event("node created", self.node.name))
        if caveat:
            self.keep(ctx.event("caveat", caveat))
        self.keep(*live_restore.apply(ctx))
        setup_steps.reached("live-restore-set")
        self.keep(
            NodeFacts(self.node.versions(), self._safe(lambda: self.node.address), self.node.name, caveat)
        )
        for action in self.sequence.setup:
            self.keep(*action.run(ctx))
        self.advance("baseline")

    def keep(self, *records: Record | None) -> None:
        self.evidence.add(*records)

    # --- phases --------------------------------------------------------------------------
    def _enter(self, name: str) -> None:
        now = self.clock.now()
        current = self.evidence.last(PhaseSpan)
        if current is not None and current.end is None:
            self.keep(PhaseSpan(current.name, current.start, now))
        self.keep(PhaseSpan(name, now))
        self.status.phase = name

    def advance(self, target: str) -> None:
        """Run every transition up to ``target``; a failed transition aborts the rest."""
        if self.status.aborted:
            raise NodeError(f"scenario aborted: {self.status.aborted}")
        current = PHASES.index(self.status.phase) if self.status.phase else -1
        for name in PHASES[current + 1 : PHASES.index(target) + 1]:
            self.ctx.services.announce(name)
            try:
                for action in self.sequence.phases[name]:
                    self.keep(*action.run(self.ctx))
            except BaseException as exc:
                self.status.aborted = f"entering {name}: {exc}"
                self.keep(self.ctx.event("aborted", self.status.aborted), self._not_back(exc))
                raise
            self._enter(name)

    def _not_back(self, exc: BaseException) -> NotBack | None:
        """A failure after the start command and before the API answered: why it never came
        back, in the cell's words."""
        ev = self.evidence
        if ev.last(WindowEnded) is None or ev.last(Started) is not None or ev.last(NotBack) is not None:
            return None
        engine = self.cell.engine_after
        what = (
            f"the new engine ({engine.name}) did not start"
            if engine is not None and engine != self.cell.engine
            else "the daemon did not come back"
        )
        return NotBack(f"{what}: {str(exc) or type(exc).__name__}")

    def record(
        self, phase: str, check_id: str, passed: bool, detail: str = "", source: str | None = None
    ) -> None:
        self.keep(Check(check_id, phase, bool(passed), detail, source))

    def verdicts(self) -> Verdicts:
        """The run's verdicts as its evidence stands (the same function the result uses)."""
        return judge(self.cell, self.evidence, self.clock.t0, self.status.stopped_by)

    # --- teardown ------------------------------------------------------------------------
    def finish(self) -> bool:
        """Always runs, once: stop what runs, undo the cell's own changes, restore daemon.json,
        destroy the node; whether this call did it."""
        if self.status.finished:
            return False
        self.status.finished = True
        ctx, start = self.ctx, self.clock.now()
        if self.status.phase != "teardown":
            self._enter("teardown")
        steps: list[tuple[str, Callable[[], Iterable[Record]]]] = [
            ("stop_probe", lambda: StopBackground().run(ctx)),
            *((action.name, lambda action=action: action.run(ctx)) for action in self.sequence.cleanup),
            ("save_logs", self._node_logs),
            ("restore_daemon_json", lambda: live_restore.restore(ctx)),
            ("destroy_node", self._destroy),
        ]
        kept: KeepNode | None = None
        for name, step in steps:  # each runs whatever happened to the one before
            if kept is not None and name in ("restore_daemon_json", "destroy_node"):
                self.record("teardown", name, False, f"not done: {kept}")
                continue
            try:
                self.keep(*step())
            except KeepNode as exc:
                kept = exc
                self.record("teardown", name, False, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # recorded as a failed teardown check, never hidden
                self.record("teardown", name, False, f"{type(exc).__name__}: {exc}")
        residue = self.node.residue()
        self.node.release()
        self.record(
            "teardown", "node_left_clean", not residue, "nothing left" if not residue else "; ".join(residue)
        )
        others = self.node.other_containers()
        if others is not None:  # an existing node's own containers, judged after its last restart
            self.keep(others)
            self.record("teardown", OTHERS_CHECK, *others.check())
        self.keep(ctx.timing("teardown_s", start))
        span = self.evidence.require(PhaseSpan)
        self.keep(PhaseSpan(span.name, span.start, self.clock.now()))
        return True

    def _node_logs(self) -> list[Record]:
        """The daemon's own log, read before the node is destroyed: the first thing to read
        when a cell fails."""
        return [SavedLog(name, data) for name, data in self.node.logs().items()]

    def _destroy(self) -> list[Record]:
        self.node.destroy()
        return []

    def _safe(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except LrmatrixError:
            return None

    # --- what the live line and the plugin read -------------------------------------------
    def events(self) -> list[Event]:
        return self.evidence.all(Event)

    def checks(self) -> list[Check]:
        return self.evidence.all(Check)
