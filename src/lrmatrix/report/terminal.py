"""The terminal table, drawn with rich: 120 columns by default, every column with ``--wide``.

Plain text (no colour codes) unless ``color`` is asked for, which the CLI does only when
stdout is a terminal, so files and CI logs stay plain.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lrmatrix.report.grid import NO_CELL, Grid
from lrmatrix.report.rows import Row
from lrmatrix.report.scenario_differences import HEADING
from lrmatrix.report.table import notes, status, table_cells

#: the default table's width, kubectl-style: --wide lifts it
WIDTH = 120
STATUS_STYLE = {"PASS": "green", "FAIL": "bold red", "NOT RUN": "yellow"}
SQUARE_STYLE = {"pass": "green", "fail": "bold red"}


def _console(out: io.StringIO, *, wide: bool, color: bool) -> Console:
    return Console(
        file=out,
        width=1_000_000 if wide else WIDTH,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
    )


def _plain(out: io.StringIO) -> str:
    """What rich drew, without its trailing spaces and blank edges."""
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")


#: the terminal's column headers: the variant in short (the schema allows only these two)
VARIANT_SHORT = {"liverestore": "LR on", "noliverestore": "LR off"}


def _heading(variant: str, extras: tuple[str, ...]) -> str:
    """``LR on`` over ``pkg``/``upgrade``/``26``: thirteen columns fit 120 characters."""
    words = [w for extra in extras for w in re.findall(r"pkg|\d+|[^\d]+?(?=pkg|\d|$)", extra)]
    return "\n".join([VARIANT_SHORT.get(variant, variant), *words])


def grid_text(grid: Grid, *, wide: bool = False, color: bool = False) -> str:
    """The grid, a square's words one a line so that every column fits the terminal."""
    table = Table(box=box.HORIZONTALS, show_lines=True, show_edge=False, pad_edge=False, padding=0)
    table.add_column("platform", header_style="bold", no_wrap=True)
    for variant, extras in grid.columns:
        table.add_column(_heading(variant, extras), header_style="bold", overflow="fold")
    for platform, squares in zip(grid.platforms, grid.squares, strict=True):
        style = (lambda s: SQUARE_STYLE.get(s.kind, "")) if color else (lambda s: "")
        cells = [Text(NO_CELL if s.kind == "none" else "\n".join(s.lines), style(s)) for s in squares]
        table.add_row(Text(platform), *cells)
    out = io.StringIO()
    console = _console(out, wide=wide, color=color)
    console.print(table)
    console.print(grid.legend, markup=False)
    short = [
        f"{VARIANT_SHORT[v]} = {v}" for v in dict.fromkeys(v for v, _ in grid.columns) if v in VARIANT_SHORT
    ]
    if short:
        console.print(f"Columns: {', '.join(short)}; under it, the cell's extras.", markup=False)
    return _plain(out)


def render(
    rows: list[Row],
    *,
    wide: bool = False,
    color: bool = False,
    grid: Grid | None = None,
    differences: Sequence[str] = (),
) -> str:
    """The grid (when given), the table, then findings and failed checks in words, and where the
    engines' scenario cells differ (``lrmatrix run`` prints this too)."""
    header, body = table_cells(rows, wide=wide)
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold"
    )
    for title in header:
        table.add_column(title, no_wrap=True)
    for row, cells in zip(rows, body, strict=True):
        table.add_row(*cells, style=STATUS_STYLE[status(row)] if color else None)
    out = io.StringIO()
    console = _console(out, wide=wide, color=color)
    console.print(table)
    said = [f"{r.cell}: {n}" for r in rows for n in notes(r)]
    if said:
        console.print()
    for note in said:
        console.print(note, markup=False)
    if differences:
        console.print()
        console.print(f"{HEADING}:", markup=False)
        for d in differences:
            console.print(f"- {d}", markup=False)
    flat = _plain(out)
    return flat if grid is None else f"{grid_text(grid, wide=wide, color=color)}\n\n{flat}"
