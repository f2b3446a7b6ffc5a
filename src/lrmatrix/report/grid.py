"""The matrix as a grid: platforms as rows, variants and extras as columns, one square per cell.

The flat table answers "what did this cell do"; the grid answers "which platforms survive with
live-restore and which don't" at a glance. Where each cell sits is taken from the matrix model
(``Cell.platform``, ``variant``, ``extras``) and, for a result the matrix does not name (a
user's own platform, ``--no-matrix``), from the platform and variant the result recorded.
Every format (terminal, Markdown, HTML, ``compare``) lays out the same squares, worded here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from lrmatrix.matrix.model import Cell
from lrmatrix.report.compare import VERDICT_PATH, Comparison, Pair, cell_key
from lrmatrix.report.rows import Row, row_from_result
from lrmatrix.report.table import status
from lrmatrix.results.model import Result

#: a column: the variant and the cell's extras (``("liverestore", ("noproxy",))``)
Column = tuple[str, tuple[str, ...]]
#: a square the matrix has no cell for, told apart from a cell that did not run (empty)
NO_CELL = "·"
#: pass and fail link to the cell's details; not-run is an empty square; none: no such cell
Kind = Literal["pass", "fail", "not-run", "none"]
#: ``compare``'s marks, for its lines and its squares alike
MARKS = {"regression": "!", "improvement": "+", "info": "~"}
LEGEND = (
    f"Each square: result, observed behaviour, the {VERDICT_PATH} path's outage (its longest).\n"
    f"Empty: not run (no result file); {NO_CELL}: no such cell."
)
#: ``lrmatrix run`` of several cells draws only those: a missing square was not asked for
RUN_LEGEND = LEGEND.replace("no such cell", "not in this run")
#: ``compare`` reads no matrix: a missing square is a cell neither folder has
PAIRS_LEGEND = LEGEND.replace("no such cell", "in neither folder")
COMPARE_LEGEND = "Marks: ! regression, + improvement, ~ information; a→b: baseline → candidate."


@dataclass(frozen=True)
class Place:
    """Where a cell sits in the grid."""

    platform: str
    variant: str
    extras: tuple[str, ...] = ()

    @property
    def column(self) -> Column:
        return (self.variant, self.extras)


@dataclass(frozen=True)
class Square:
    """One grid cell: ``kind`` is pass, fail, not-run (empty) or none (the matrix has no such
    cell); ``cell`` names the matrix cell whose details it links to."""

    kind: Kind
    cell: str = ""
    lines: tuple[str, ...] = ()
    mark: str = ""

    @property
    def linked(self) -> bool:
        """Only a cell that ran has details to link to."""
        return self.kind in ("pass", "fail")


@dataclass(frozen=True)
class Grid:
    platforms: tuple[str, ...]
    columns: tuple[Column, ...]
    squares: tuple[tuple[Square, ...], ...]  # one tuple per platform, a square per column
    legend: str = LEGEND

    def header(self) -> list[str]:
        return ["platform", *(column_name(c) for c in self.columns)]


def column_name(column: Column) -> str:
    variant, extras = column
    return "-".join((variant, *extras))


def place_of_result(result: Result) -> Place:
    """The platform and variant the result recorded (older files: its name's), extras the
    name's parts after them, as ``compare`` pairs cells."""
    platform, variant, extras = cell_key(result)
    return Place(platform, variant, extras)


def places(cells: Iterable[Cell], results: Iterable[Result]) -> dict[str, Place]:
    """Cell name -> place: the matrix model's, then the results' for cells it does not have.
    A scenario cell has a square only once it has a result: there are many (each scenario x
    platform x variant) and docs/scenarios.md has their own table; unrun, they would widen the
    grid past a terminal's width."""
    results = list(results)
    ran = {r.cell for r in results}
    out = {
        c.name: Place(c.platform, c.variant, c.extras) for c in cells if c.scenario is None or c.name in ran
    }
    for r in results:
        out.setdefault(r.cell, place_of_result(r))
    return out


def outage(row: Row) -> str:
    """The verdict path's longest outage, as the flat table words it."""
    path = row.paths.get(VERDICT_PATH)
    return "-" if path is None else f"{path.longest_outage_ms / 1000:.3f}s"


def square(row: Row, mark: str = "") -> Square:
    if not row.ran:
        return Square("not-run", row.cell, (), mark)
    kind: Kind = "pass" if row.passed else "fail"
    return Square(kind, row.cell, (status(row), row.observed, outage(row)), mark)


def _layout(placed: Mapping[Place, Square], legend: str = LEGEND) -> Grid:
    """Platforms in the order first seen (the matrix's axis order, then a user's own);
    columns: the plain variants first, then each extra with its variants side by side."""
    order = list(placed)
    platforms = tuple(dict.fromkeys(p.platform for p in order))
    variants = list(dict.fromkeys(p.variant for p in order))
    extras = list(dict.fromkeys(p.extras for p in order))
    columns = tuple(
        sorted(
            dict.fromkeys(p.column for p in order),
            key=lambda c: (bool(c[1]), extras.index(c[1]), variants.index(c[0])),
        )
    )
    squares = tuple(
        tuple(placed.get(Place(platform, *column), Square("none")) for column in columns)
        for platform in platforms
    )
    return Grid(platforms, columns, squares, legend)


def build(rows: list[Row], where: Mapping[str, Place], legend: str = LEGEND) -> Grid:
    """The report's grid from its rows (in matrix order) and where each cell sits; a row with no
    place, or a second one on a taken place, stays in the flat table only."""
    placed: dict[Place, Square] = {}
    for row in rows:
        place = where.get(row.cell)
        if place is not None:
            placed.setdefault(place, square(row))
    return _layout(placed, legend)


def _effect_mark(pair: Pair) -> str:
    effects = {c.effect for c in pair.changes}
    return next((MARKS[e] for e in ("regression", "improvement", "info") if e in effects), "")


def _arrow(before: str, after: str) -> str:
    return after if before == after else f"{before}→{after}"


def _candidate(b: Row | None, c: Row, mark: str) -> Square:
    """The candidate's square, the baseline's words before an arrow where they differ."""
    shown = square(c, mark)
    lines = list(shown.lines)
    if b is not None:
        lines = [_arrow(x, y) for x, y in zip(square(b).lines, lines, strict=True)]
    else:
        lines[0] += " (new)"
    if mark:
        lines[0] = f"{mark} {lines[0]}"
    return Square(shown.kind, c.cell, tuple(lines), mark)


def compared(cmp: Comparison, baseline: list[Result], candidate: list[Result]) -> Grid:
    """``compare``'s grid: a square per pair, placed where the candidate's cell sits (a cell only
    in the baseline: where ``--pair`` takes its platform), marked by its strongest change."""
    base = {r.cell: r for r in baseline}
    cand = {r.cell: r for r in candidate}
    placed: dict[Place, Square] = {}
    for pair in cmp.pairs:
        b, c, mark = base.get(pair.baseline or ""), cand.get(pair.candidate or ""), _effect_mark(pair)
        if c is not None:
            placed[place_of_result(c)] = _candidate(
                row_from_result(b) if b else None, row_from_result(c), mark
            )
        elif b is not None:  # the candidate did not run it: that gates as a failure does
            was = place_of_result(b)
            place = Place(cmp.pair_map.get(was.platform, was.platform), was.variant, was.extras)
            gone = f"{mark} {status(row_from_result(b))}→NOT RUN"
            placed[place] = Square("fail", b.cell, (gone,), mark)
    return _layout(placed, f"{PAIRS_LEGEND}\n{COMPARE_LEGEND}")
