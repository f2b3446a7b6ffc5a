"""The terminal table: cells as rows, aligned plain text (no colour codes in files or CI logs)."""

from __future__ import annotations

from lrmatrix.report.rows import Row
from lrmatrix.report.table import notes, table_cells


def render(rows: list[Row]) -> str:
    """The table, then findings and failed checks in words (``lrmatrix run`` prints this too)."""
    header, body = table_cells(rows)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header).rstrip(), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*line).rstrip() for line in body]
    extra = [f"{r.cell}: {n}" for r in rows for n in notes(r)]
    if extra:
        lines += ["", *extra]
    return "\n".join(lines)
