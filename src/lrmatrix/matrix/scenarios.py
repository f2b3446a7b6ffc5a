"""``[scenarios.<name>]``: a scenario's table and what each of its cells is given.

A scenario is a workload, extra actions in named phases, and checks that read the daemon's
own state, with the value each check must observe per ``<platform>/<variant>`` (measured on
that engine, never copied from upstream; ``note`` says where it disagrees). Every platform x
variant of a scenario becomes a cell ``<platform>-<variant>-<scenario>`` (``lrmatrix.matrix.
cells``). Names of actions and checks are looked up in ``lrmatrix.scenarios.registry`` here,
and an action's params are tried, so a typo is one line before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from lrmatrix.errors import BadInput
from lrmatrix.matrix.table import Table
from lrmatrix.scenarios import registry

SCENARIO_NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$"
#: where a scenario's actions go: ``setup`` after the workload answers and the probe runs,
#: each phase after that phase's own actions, ``cleanup`` in the teardown whatever happened
#: before, even when the run stopped half way (lrmatrix.run.sequence)
Phase = Literal["setup", "baseline", "disrupt", "outage", "recover", "after", "change", "teardown", "cleanup"]
#: the engine platforms of the default matrix, where a scenario runs unless it says otherwise
DEFAULT_PLATFORMS = ("engine", "engine26", "engine28")
#: the key of an expectation entry that is no check: why it differs from upstream
NOTE = "note"
#: the key of an expectation entry that overrides the variant's probe verdict for the cell (a
#: scenario whose fault cuts the node path even with live-restore, e.g. a flushed FORWARD chain)
VERDICT = "verdict"
VERDICTS = ("survive", "outage")
Short = Annotated[str, Field(min_length=1, max_length=200)]


class StepTable(Table):
    """One action of the library, by name, and the keyword arguments it takes."""

    action: Annotated[str, Field(pattern=registry.NAME.pattern, max_length=40)]
    params: dict[str, Any] = Field(default_factory=dict)


class ScenarioTable(Table):
    description: Annotated[str, Field(min_length=1, max_length=400)]
    #: where upstream says it: a moby file and test at a tag, issue or PR numbers
    upstream: Annotated[list[Short], Field(min_length=1, max_length=20)]
    #: a [workloads.<name>]; default the seed's nginx
    workload: Annotated[str, Field(max_length=32)] | None = None
    actions: dict[Phase, Annotated[list[StepTable], Field(max_length=20)]] = Field(default_factory=dict)
    checks: Annotated[list[Annotated[str, Field(max_length=40)]], Field(min_length=1, max_length=20)]
    platforms: Annotated[list[Annotated[str, Field(max_length=16)]], Field(min_length=1)] | None = None
    #: the live-restore variants it runs with (default both); one left out says why in ``skip``
    variants: Annotated[list[str], Field(min_length=1, max_length=2)] | None = None
    skip: Annotated[str, Field(max_length=400)] = ""
    #: "<platform>/<variant>" -> {check: value it must observe, note: why it differs from upstream}
    expect: dict[Annotated[str, Field(max_length=40)], dict[str, Short]] = Field(default_factory=dict)
    #: "<platform>/<variant>" of the cells that also run in CI (the fastest; tox label ``ci``)
    ci: Annotated[list[str], Field(max_length=6)] = Field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    """What one scenario cell runs and must observe (its platform and variant resolved)."""

    name: str
    description: str
    upstream: tuple[str, ...]
    #: phase -> (action name, params), in order
    actions: dict[str, tuple[tuple[str, dict[str, Any]], ...]]
    checks: tuple[str, ...]
    #: check -> the value it must observe in this cell; a check without one fails, saying what it saw
    expect: dict[str, str] = field(default_factory=dict)
    note: str = ""
    ci: bool = False
    #: the probe verdict this cell expects instead of its variant's (``expect.<cell>.verdict``)
    verdict: str | None = None
    #: the Docker minor version its expectations were measured on (``engine_match``)
    measured_on: str = ""
    #: Docker minor version -> the cell of this scenario and variant measured on it
    measured_cells: dict[str, str] = field(default_factory=dict)


def scenario_cells(
    tables: dict[str, ScenarioTable], platforms: tuple[str, ...], variants: tuple[str, ...], where: str
) -> list[tuple[str, str, str, str | None, Scenario]]:
    """(cell name, platform, variant, workload, scenario) of every scenario x platform x
    variant; ``platforms`` are those of the matrix's axes."""
    found = []
    for name, t in tables.items():
        at = f"{where} [scenarios.{name}]"
        _library(t, at)
        mine = tuple(t.platforms) if t.platforms is not None else DEFAULT_PLATFORMS
        for p in mine:
            if p not in platforms:
                raise BadInput(
                    f"{at}: platform {p!r} is not in axes.platform; use some of {', '.join(platforms)}"
                )
        theirs = tuple(t.variants) if t.variants is not None else variants
        for v in theirs:
            if v not in variants:
                known = ", ".join(variants)
                raise BadInput(f"{at}: variant {v!r} is not in axes.variant; use some of {known}")
        if theirs != variants and not t.skip:
            raise BadInput(f'{at}: variants leaves some out; say why in skip = "..." (the docs show it)')
        keys = [f"{p}/{v}" for p in mine for v in theirs]
        for key, entry in t.expect.items():
            if key not in keys:
                raise BadInput(f"{at} expect: {key!r} is none of its cells; use one of {', '.join(keys)}")
            for check in entry:
                if check not in (NOTE, VERDICT) and check not in t.checks:
                    raise BadInput(
                        f"{at} expect.{key!r}: {check!r} is not one of its checks ({', '.join(t.checks)}), "
                        f"{NOTE!r} or {VERDICT!r}; fix the name"
                    )
            if entry.get(VERDICT, VERDICTS[0]) not in VERDICTS:
                raise BadInput(
                    f"{at} expect.{key!r}: verdict = {entry[VERDICT]!r}; use one of {', '.join(VERDICTS)}"
                )
        for key in t.ci:
            if key not in keys:
                raise BadInput(f"{at} ci: {key!r} is none of its cells; use one of {', '.join(keys)}")
        for p in mine:
            for v in theirs:
                entry = dict(t.expect.get(f"{p}/{v}", {}))
                note = entry.pop(NOTE, "")
                verdict = entry.pop(VERDICT, None)
                scenario = Scenario(
                    name=name,
                    description=t.description,
                    upstream=tuple(t.upstream),
                    actions={
                        ph: tuple((s.action, dict(s.params)) for s in steps)
                        for ph, steps in t.actions.items()
                    },
                    checks=tuple(t.checks),
                    expect=entry,
                    note=note,
                    ci=f"{p}/{v}" in t.ci,
                    verdict=verdict,
                )
                found.append((f"{p}-{v}-{name}", p, v, t.workload, scenario))
    return found


def _library(t: ScenarioTable, at: str) -> None:
    """Every action and check is in the library, and every action takes its params."""
    known_actions, known_checks = registry.actions(), registry.checks()
    for check in t.checks:
        if check not in known_checks:
            raise BadInput(f"{at}: unknown check {check!r}; use one of {', '.join(sorted(known_checks))}")
    if len(set(t.checks)) != len(t.checks):
        raise BadInput(f"{at}: checks names one check twice; remove the repeat")
    for phase, steps in t.actions.items():
        for i, step in enumerate(steps):
            if step.action not in known_actions:
                raise BadInput(
                    f"{at} actions.{phase}[{i}]: unknown action {step.action!r}; "
                    f"use one of {', '.join(sorted(known_actions))}"
                )
            try:
                registry.make_action(step.action, step.params)
            except (TypeError, ValueError) as exc:
                raise BadInput(f"{at} actions.{phase}[{i}]: {step.action}: {exc}; fix its params") from None
