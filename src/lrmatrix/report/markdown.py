"""The Markdown report: the terminal's table as a Markdown table, then findings per cell.

Meant to be pasted into a pull request or a wiki page, so every cell text is escaped:
a version string or a check id must not turn into a link, emphasis or an extra column.
"""

from __future__ import annotations

import re

from lrmatrix.report.rows import Row
from lrmatrix.report.table import notes, table_cells

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md(text: str) -> str:
    """Escape Markdown's inline syntax and keep a cell on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def render(rows: list[Row], title: str = "lrmatrix report") -> str:
    """Table, findings, and the cells without a result named at the end."""
    header, body = table_cells(rows)
    lines = [f"## {md(title)}", "", "| " + " | ".join(md(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(md(c) for c in cells) + " |" for cells in body]
    said = [(r.cell, notes(r)) for r in rows]
    if any(n for _, n in said):
        lines += ["", "### Findings", ""]
        for cell, cell_notes in said:
            lines += [f"- **{md(cell)}**: {md(n)}" for n in cell_notes]
    missing = [r.cell for r in rows if not r.ran]
    if missing:
        lines += ["", "Not run (no result file): " + ", ".join(md(c) for c in missing)]
    return "\n".join(lines) + "\n"
