"""The scenario x engine x live-restore table of docs/scenarios.md, drawn from result files:
each square the value a check observed in that cell's run, linked to the result, with the
run's date; a square whose value is not the one the matrix now expects for that cell is
marked (a run made to measure a value has none to meet yet; the table reads today's matrix). Written between
two markers by ``scripts/scenario-table``, so the page says what runs showed, never what
someone typed."""

from __future__ import annotations

import re
from collections.abc import Iterable

from lrmatrix.errors import BadInput
from lrmatrix.matrix.engines import upstream
from lrmatrix.matrix.model import Matrix
from lrmatrix.report.scenario_differences import engine_differences
from lrmatrix.results.model import Result
from lrmatrix.results.outcome import observation_failure

START = "<!-- scenario-table: made by scripts/scenario-table from docs/scenario-results; do not edit -->"
END = "<!-- /scenario-table -->"
VARIANTS = {"liverestore": "on", "noliverestore": "off"}
#: a value the run observed that is not the one its cell expects (or none is measured yet)
UNEXPECTED = "(!)"


def _platform_order(platform: str) -> tuple[int, str]:
    """engine, engine26, engine28: the machine's engine first, then by version."""
    digits = re.sub(r"\D", "", platform)
    return (int(digits) if digits else 0, platform)


def table(results: Iterable[Result], folder: str, matrix: Matrix) -> list[str]:
    """Markdown lines: a row per scenario check, a column per platform and variant; ``folder``
    is where the result files are, relative to the page; ``matrix`` holds the expectations."""
    runs = [r for r in results if r.scenario is not None]
    if not runs:
        raise BadInput("no scenario result among the files; run the scenario cells first (tox -m scenarios)")
    by_cell = {(r.scenario.name, r.platform or "", r.variant or ""): r for r in runs if r.scenario}
    platforms = sorted({p for _, p, _ in by_cell}, key=_platform_order)
    docker = {r.platform: upstream(r.versions.get("docker", "?")) for r in runs}
    columns = [(p, v) for p in platforms for v in VARIANTS]
    head = ["scenario: check", *(f"{p} {docker[p]} LR {VARIANTS[v]}" for p, v in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in sorted({n for n, _, _ in by_cell}):
        checks: dict[str, None] = {}
        for (n, _, _), r in sorted(by_cell.items()):
            if n == name and r.scenario is not None:
                checks.update(dict.fromkeys(o.check for o in r.scenario.observations))
        for check in checks:
            row = [f"[{name}](#{name}): {check}"]
            for p, v in columns:
                r = by_cell.get((name, p, v))
                row.append(_square(r, check, folder, matrix) if r is not None else "")
            lines.append("| " + " | ".join(row) + " |")
    dates = sorted({r.started_at[:10] for r in runs})
    lines += [
        "",
        f"Each square: what the check observed, linked to the run's result ({', '.join(dates)}); "
        f"{UNEXPECTED}: not the value the matrix expects for that cell. Empty: not run.",
    ]
    differences = engine_differences(runs)
    if differences:
        lines += ["", "Where the engines differ:", "", *(f"- {d}" for d in differences)]
    return lines


def _square(r: Result, check: str, folder: str, matrix: Matrix) -> str:
    found = [o for o in r.scenario.observations if o.check == check] if r.scenario else []
    if not found:
        return f"[not observed]({folder}/{r.cell}.json)"
    o = found[0]
    cell = next((c for c in matrix.cells if c.name == r.cell), None)
    expected = cell.scenario.expect.get(check) if cell is not None and cell.scenario else None
    failure = observation_failure(check, expected, o.observed, o.detail, "", o.check)
    mark = "" if failure is None else f" {UNEXPECTED}"
    return f"[{o.observed}]({folder}/{r.cell}.json){mark}"


def replace_table(page: str, lines: list[str]) -> str:
    """``page`` with the text between the markers replaced by ``lines``."""
    if page.count(START) != 1 or page.count(END) != 1 or page.index(START) > page.index(END):
        raise BadInput(f"the page needs one {START!r} line and one {END!r} line after it")
    before, rest = page.split(START)
    _, after = rest.split(END)
    return before + START + "\n" + "\n".join(lines) + "\n" + END + after
