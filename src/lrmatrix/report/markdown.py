"""The Markdown report: the terminal's table as a Markdown table, then findings per cell.

Meant to be pasted into a pull request or a wiki page, so every cell text is escaped:
a version string or a check id must not turn into a link, emphasis or an extra column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lrmatrix.report.grid import NO_CELL, Grid
from lrmatrix.report.rows import Row
from lrmatrix.report.scenario_differences import HEADING
from lrmatrix.report.table import identity_lines, notes, table_cells

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md(text: str) -> str:
    """Escape Markdown's inline syntax and keep a cell on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def grid_table(grid: Grid) -> list[str]:
    """The grid as a Markdown table (a square's words on lines of their own), then its legend."""
    lines = ["| " + " | ".join(md(h) for h in grid.header()) + " |", "|" + "---|" * (len(grid.columns) + 1)]
    for platform, squares in zip(grid.platforms, grid.squares, strict=True):
        words = [NO_CELL if s.kind == "none" else "<br>".join(md(w) for w in s.lines) for s in squares]
        lines.append(f"| {md(platform)} | " + " | ".join(words) + " |")
    return [*lines, "", *(md(line) for line in grid.legend.splitlines())]


def render(
    rows: list[Row], title: str = "lrmatrix report", grid: Grid | None = None, differences: Sequence[str] = ()
) -> str:
    """The grid (when given), the table, findings, where the engines' scenario cells differ, and
    the cells without a result at the end."""
    header, body = table_cells(rows)
    lines = [f"## {md(title)}", "", *([*grid_table(grid), ""] if grid else [])]
    lines.append("| " + " | ".join(md(h) for h in header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(md(c) for c in cells) + " |" for cells in body]
    said = [(r.cell, notes(r)) for r in rows]
    if any(n for _, n in said):
        lines += ["", "### Findings", ""]
        for cell, cell_notes in said:
            lines += [f"- **{md(cell)}**: {md(n)}" for n in cell_notes]
    told = [(r.cell, identity_lines(r)) for r in rows]
    if any(n for _, n in told):
        lines += ["", "### What identifies the serving container", ""]
        for cell, paths in told:
            lines += [f"- **{md(cell)}** {md(p)}" for p in paths]
    if differences:
        lines += ["", f"### {HEADING}", "", *(f"- {md(d)}" for d in differences)]
    missing = [r.cell for r in rows if not r.ran]
    if missing:
        lines += ["", "Not run (no result file): " + ", ".join(md(c) for c in missing)]
    return "\n".join(lines) + "\n"
