"""``lrmatrix plan CELL``: the steps a cell runs, in order, read from its sequence.

Nothing is executed and nothing is simulated: each step is the one-line description of an
action the scenario runs (``lrmatrix.run.sequence``, ``lrmatrix.run.actions``), and a wait is shown
as a wait, with what ends it and its bound from the cell's timings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lrmatrix.matrix.cells import Cell
from lrmatrix.run.sequence import PHASES, kind, sequence_for

DRY_RUN = "dry run: nothing was executed; the steps come from the cell's sequence, waits with their bounds"


@dataclass(frozen=True)
class Step:
    """One line of the plan: its phase, the action's name, what it does, whether it waits."""

    phase: str
    action: str
    text: str
    wait: bool = False


def plan_cell(cell: Cell) -> list[Step]:
    """Every step of ``cell`` in the order the scenario runs them."""
    sequence = sequence_for(cell)
    lr = str(cell.live_restore).lower()
    steps = [
        Step("setup", "node", f"create the node ({cell.driver} driver, engine {cell.engine.name})"),
        Step(
            "setup",
            "live-restore",
            f"set live-restore={lr} in daemon.json (a backup first) and apply it by a reload; "
            "a restart only if the reload did not change it",
        ),
        Step("setup", "versions", "record the versions the node runs"),
    ]
    steps += [Step("setup", a.name, a.describe(cell), a.waits_in(cell)) for a in sequence.setup]
    for phase in PHASES:
        steps += [Step(phase, a.name, a.describe(cell), a.waits_in(cell)) for a in sequence.phases[phase]]
    steps += [
        Step("teardown", "logs", "save the daemon's log beside the result"),
        *(Step("teardown", a.name, a.describe(cell), a.waits_in(cell)) for a in sequence.cleanup),
        Step("teardown", "restore", "put daemon.json back byte for byte"),
        Step("teardown", "destroy", "destroy the node; check that nothing of the cell is left"),
    ]
    return steps


def render(cell: Cell, steps: list[Step]) -> str:
    """A heading per phase, then its steps; a wait reads ``wait until ..., up to N s``."""
    lr = "on" if cell.live_restore else "off"
    platform = f"Kubernetes {cell.kubernetes} on minikube" if cell.kubernetes else f"the {cell.driver} driver"
    lines = [
        f"# lrmatrix plan {cell.name}: {platform}, live-restore {lr}, expect {cell.expect}",
        f"# {DRY_RUN}",
    ]
    for phase in ("setup", *PHASES):
        lines.append(f"== {phase}")
        ours = [s for s in steps if s.phase == phase]
        lines += [f"  {'~' if s.wait else '-'} {s.action}: {s.text}" for s in ours]
        if not ours:
            lines.append("  (no action: the phase's checks run on the node as it is)")
    lines.append("# '~' waits: it ends when the condition holds, or fails at its bound")
    return "\n".join(lines) + "\n"


def as_json(cell: Cell, steps: list[Step]) -> dict[str, Any]:
    """The same plan for tools; the disclaimer travels with it."""
    return {
        "cell": cell.name,
        "platform": kind(cell),
        "dry_run": DRY_RUN,
        "steps": [asdict(s) for s in steps],
    }
