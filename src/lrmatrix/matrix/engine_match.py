"""Which Docker a cell's judgement holds for, and the node that must run it.

A scenario's expectations are what a run showed on one engine (``expect."<platform>/<variant>"``),
and an engineNN platform names its engine's version. On the engine driver the node runs exactly
that; a node of yours (``--node ssh://…``) runs its own Docker, so before anything changes the
run compares the node's version with the cell's, at the minor version (Debian's 26.1.4 and
26.1.5 carry the same fixes upstream names), and refuses a cell measured elsewhere, naming the
cell measured on the node's version when there is one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from lrmatrix.errors import BadInput
from lrmatrix.matrix.engines import Engine, upstream

if TYPE_CHECKING:
    from lrmatrix.matrix.model import Cell
    from lrmatrix.matrix.schema import PlatformTable

MINOR = re.compile(r"^(\d+)\.(\d+)")
#: the drivers whose node is a plain Docker host where a scenario's docker commands mean what
#: they measured (the engine node; an ssh node runs engine-platform cells)
SCENARIO_DRIVERS = ("engine",)


def minor(version: str) -> str:
    """``20.10.24+dfsg1`` -> ``20.10``; "" when it names no version."""
    found = MINOR.match(upstream(version))
    return f"{found.group(1)}.{found.group(2)}" if found else ""


def measured_on(platform: str, plat: PlatformTable, engine: Engine, where: str) -> str:
    """The Docker minor version a scenario's expectations on ``platform`` were measured on: its
    engine's pin, else the platform's ``scenario_docker`` (the machine's Docker has no pin)."""
    table = f"{where} [platforms.{platform}]"
    if plat.driver not in SCENARIO_DRIVERS:
        raise BadInput(
            f"{table}: scenarios run on Docker hosts (engine platforms, or a node of yours with --node "
            f"ssh://…), and this platform's driver is {plat.driver}; remove it from the scenario's platforms"
        )
    pinned = "" if engine.is_machine else minor(engine.docker)
    said = plat.scenario_docker
    if pinned and said and said != pinned:
        raise BadInput(
            f"{table}: scenario_docker = {said!r}, but its engine {engine.name} is Docker {pinned}; remove "
            "scenario_docker (a pinned engine says it)"
        )
    if not (pinned or said):
        raise BadInput(
            f"{table}: scenario cells run here on the machine's own Docker; say which Docker their "
            'expectations were measured on, e.g. scenario_docker = "20.10"'
        )
    return pinned or str(said)


def with_siblings(cells: list[Cell]) -> list[Cell]:
    """Each scenario cell knows the cells of its scenario and variant by the Docker they were
    measured on, so a refusal can name the one that fits a node."""
    by: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for c in cells:
        if c.scenario is not None:
            by[(c.scenario.name, c.variant)].setdefault(c.scenario.measured_on, c.name)
    return [
        replace(c, scenario=replace(c.scenario, measured_cells=by[(c.scenario.name, c.variant)]))
        if c.scenario is not None
        else c
        for c in cells
    ]


def expected_docker(cell: Cell) -> str:
    """The Docker minor version the cell's judgement holds for; "" when any engine will do (a
    cell on the machine's own Docker that is no scenario)."""
    if cell.scenario is not None:
        return cell.scenario.measured_on
    return "" if cell.engine.is_machine else minor(cell.engine.docker)


def refusal(cell: Cell, node_label: str, node_version: str) -> str | None:
    """Why ``cell`` must not run on a node whose dockerd is ``node_version``, in one line
    (``None``: it may)."""
    wanted = expected_docker(cell)
    have = minor(node_version)
    if not wanted or have == wanted:
        return None
    runs = f"{node_label} runs Docker {node_version or 'of no version it would say'}"
    if cell.scenario is None:
        return (
            f"{cell.name} is the cell of Docker {wanted} (engine {cell.engine.name}) and {runs}; on a node "
            f"of yours run the cells of the platform without an engine, which run the node's own Docker"
        )
    s = cell.scenario
    fits = s.measured_cells.get(have)
    instead = (
        f"run {fits}, measured on Docker {have}"
        if fits
        else f"no cell of scenario {s.name} was measured on Docker {have or '?'} (measured: "
        f"{', '.join(sorted(s.measured_cells))}); measure it on a platform of that engine and add its expect"
    )
    return f"{cell.name} judges against what Docker {wanted} did and {runs}; {instead}"
