"""The scenario x engine x live-restore table of docs/scenarios.md, drawn from result files:
each square the value a check observed in that cell's run, linked to the result, with the
run's date; a square whose value is not the one the matrix now expects for that cell is
marked (a run made to measure a value has none to meet yet; the table reads today's matrix). Written between
two markers by ``scripts/scenario-table``, so the page says what runs showed, never what
someone typed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from lrmatrix.errors import BadInput
from lrmatrix.matrix.engines import upstream
from lrmatrix.matrix.model import Matrix
from lrmatrix.report.scenario_differences import engine_differences
from lrmatrix.results.model import Result
from lrmatrix.results.outcome import observation_failure

START = "<!-- scenario-table: made by scripts/scenario-table from docs/scenario-results; do not edit -->"
END = "<!-- /scenario-table -->"
#: the table of runs on nodes of yours (docs/scenario-results/ssh/<node>/)
NODE_START = (
    "<!-- scenario-node-table: made by scripts/scenario-table from docs/scenario-results/ssh; do not edit -->"
)
NODE_END = "<!-- /scenario-node-table -->"
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
    runs = _scenario_runs(results)
    docker = {r.platform: upstream(r.versions.get("docker", "?")) for r in runs}
    platforms = sorted({r.platform or "" for r in runs}, key=_platform_order)
    columns = [(p, v) for p in platforms for v in VARIANTS]
    heads = [f"{p} {docker[p]} LR {VARIANTS[v]}" for p, v in columns]
    lines = _grid(
        runs, lambda r: r.platform or "", columns, heads, lambda r, c: _square(r, c, folder, matrix)
    )
    lines += [
        "",
        f"Each square: what the check observed, linked to the run's result ({_dates(runs)}); "
        f"{UNEXPECTED}: not the value the matrix expects for that cell. Empty: not run.",
    ]
    differences = engine_differences(runs)
    if differences:
        lines += ["", "Where the engines differ:", "", *(f"- {d}" for d in differences)]
    return lines


def node_table(results: dict[str, Iterable[Result]], folder: str) -> list[str]:
    """The same grid for runs on nodes of yours: a column per node (``results``: its name ->
    its runs, in ``folder/<name>/``) and variant, each square judged as the run judged it (the
    value measured for the node's Docker, narrowed to what the node's probe reaches)."""
    runs = {name: _scenario_runs(found) for name, found in results.items()}
    columns = [(n, v) for n in runs for v in VARIANTS]
    heads = [f"{n} ({_docker(runs[n])}) LR {VARIANTS[v]}" for n, v in columns]
    node_of = {id(r): n for n, found in runs.items() for r in found}
    everything = [r for found in runs.values() for r in found]

    def square(r: Result, check: str) -> str:
        found = [o for o in r.scenario.observations if o.check == check] if r.scenario else []
        link = f"{folder}/{node_of[id(r)]}/{r.cell}.json"
        if not found:
            return f"[not observed]({link})"
        return f"[{found[0].observed}]({link})" + ("" if found[0].passed else f" {UNEXPECTED}")

    lines = _grid(everything, lambda r: node_of[id(r)], columns, heads, square)
    return [
        *lines,
        "",
        f"Each square: what the check observed on that node, linked to the run's result "
        f"({_dates(everything)}); {UNEXPECTED}: the run failed it. Empty: not run.",
    ]


def _scenario_runs(results: Iterable[Result]) -> list[Result]:
    runs = [r for r in results if r.scenario is not None]
    if not runs:
        raise BadInput("no scenario result among the files; run the scenario cells first (tox -m scenarios)")
    return runs


def _docker(runs: list[Result]) -> str:
    return ", ".join(sorted({upstream(r.versions.get("docker", "?")) for r in runs}))


def _dates(runs: list[Result]) -> str:
    return ", ".join(sorted({r.started_at[:10] for r in runs}))


def _grid(
    runs: list[Result],
    column_of: Callable[[Result], str],
    columns: list[tuple[str, str]],
    heads: list[str],
    square: Callable[[Result, str], str],
) -> list[str]:
    """A row per scenario check (in the order the runs observed them), a column per
    (``column_of``, variant); empty where that cell was not run."""
    by_cell = {(r.scenario.name, column_of(r), r.variant or ""): r for r in runs if r.scenario}
    head = ["scenario: check", *heads]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in sorted({n for n, _, _ in by_cell}):
        checks: dict[str, None] = {}
        for (n, _, _), r in sorted(by_cell.items()):
            if n == name and r.scenario is not None:
                checks.update(dict.fromkeys(o.check for o in r.scenario.observations))
        for check in checks:
            row = [f"[{name}](#{name}): {check}"]
            for col, v in columns:
                r = by_cell.get((name, col, v))
                row.append(square(r, check) if r is not None else "")
            lines.append("| " + " | ".join(row) + " |")
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


def replace_table(page: str, lines: list[str], start: str = START, end: str = END) -> str:
    """``page`` with the text between the markers replaced by ``lines``."""
    if page.count(start) != 1 or page.count(end) != 1 or page.index(start) > page.index(end):
        raise BadInput(f"the page needs one {start!r} line and one {end!r} line after it")
    before, rest = page.split(start)
    _, after = rest.split(end)
    return before + start + "\n" + "\n".join(lines) + "\n" + end + after
