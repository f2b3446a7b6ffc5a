"""The terminal table, drawn with rich: 120 columns by default, every column with ``--wide``.

Plain text (no colour codes) unless ``color`` is asked for, which the CLI does only when
stdout is a terminal, so files and CI logs stay plain.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table

from lrmatrix.report.rows import Row
from lrmatrix.report.table import notes, status, table_cells

#: the default table's width, kubectl-style: --wide lifts it
WIDTH = 120
STATUS_STYLE = {"PASS": "green", "FAIL": "bold red", "NOT RUN": "yellow"}


def render(rows: list[Row], *, wide: bool = False, color: bool = False) -> str:
    """The table, then findings and failed checks in words (``lrmatrix run`` prints this too)."""
    header, body = table_cells(rows, wide=wide)
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold"
    )
    for title in header:
        table.add_column(title, no_wrap=True)
    for row, cells in zip(rows, body, strict=True):
        table.add_row(*cells, style=STATUS_STYLE[status(row)] if color else None)
    out = io.StringIO()
    console = Console(
        file=out,
        width=1_000_000 if wide else WIDTH,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
    )
    console.print(table)
    said = [f"{r.cell}: {n}" for r in rows for n in notes(r)]
    if said:
        console.print()
    for note in said:
        console.print(note, markup=False)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")
