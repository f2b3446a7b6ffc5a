"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network).

It is kept, attached to tickets and opened offline years later, so nothing is fetched;
the table is the same as the terminal's and each cell that ran gets its timeline chart.
"""

from __future__ import annotations

from collections.abc import Sequence

from lrmatrix.report.grid import NO_CELL, Grid, Square
from lrmatrix.report.rows import Row
from lrmatrix.report.scenario_differences import HEADING
from lrmatrix.report.svg import DOWN, EVENT, FAILED, OK, chart, esc
from lrmatrix.report.table import identity_lines, notes, status, table_cells
from lrmatrix.report.timeline import Timeline

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
td { white-space: nowrap; }
.scroll { overflow-x: auto; }
th { background: #f0f2f5; font-weight: 600; }
td.pass { background: #e3f3e4; } td.fail { background: #fbe3e3; } td.not-run { background: #eee; }
tr.not-run td { color: #777; font-style: italic; }
section.cell { border-top: 2px solid #ccd; margin-top: 1.5em; padding-top: .5em; }
.verdict { font-weight: 600; } .meta { color: #555; font-size: 12px; }
ul.findings li { margin: .15em 0; }
.legend span { display: inline-block; margin-right: 1.2em; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -2px; }
table.grid td { text-align: center; min-width: 5.5em; }
table.grid a { color: inherit; text-decoration: none; }
table.grid td.not-run { background: #fff; border: 1px dashed #bbb; }
table.grid td.none { color: #bbb; background: #fafafa; }
p.grid-legend { color: #555; font-size: 12px; margin-top: -.5em; }
svg text { font: 11px system-ui, sans-serif; fill: #222; }
svg text.lane-name { font-weight: 600; } svg text.tick { fill: #555; }
svg text.event-name { fill: #1a3d7c; }
"""


def _css(row: Row) -> str:
    return status(row).lower().replace(" ", "-")


def _table(rows: list[Row]) -> str:
    header, body = table_cells(rows)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = []
    for row, cells in zip(rows, body, strict=True):
        first = f'<td><a href="#cell-{esc(row.cell)}">{esc(cells[0])}</a></td>'
        rest = "".join(
            f'<td class="{_css(row)}">{esc(c)}</td>' if i == 1 else f"<td>{esc(c)}</td>"
            for i, c in enumerate(cells[1:], start=1)
        )
        cls = "" if row.ran else ' class="not-run"'
        lines.append(f'<tr data-cell="{esc(row.cell)}"{cls}>{first}{rest}</tr>')
    return f'<table class="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'


def _square(s: Square) -> str:
    """A square that ran links to its cell's section; one that did not is left empty."""
    words = "<br>".join(esc(w) for w in s.lines)
    if s.linked:
        words = f'<a href="#cell-{esc(s.cell)}">{words}</a>'
    elif s.kind == "none":
        words = NO_CELL
    cell = f' data-cell="{esc(s.cell)}"' if s.cell else ""
    return f'<td class="{s.kind}"{cell}>{words}</td>'


def _grid(grid: Grid) -> str:
    head = "".join(f"<th>{'<br>'.join(esc(w) for w in (v, *x))}</th>" for v, x in grid.columns)
    body = "".join(
        f'<tr><th scope="row">{esc(p)}</th>{"".join(_square(s) for s in squares)}</tr>'
        for p, squares in zip(grid.platforms, grid.squares, strict=True)
    )
    legend = "<br>".join(esc(line) for line in grid.legend.splitlines())
    return (
        f'<div class="scroll"><table class="grid"><thead><tr><th>platform</th>{head}</tr></thead>'
        f'<tbody>{body}</tbody></table></div><p class="grid-legend">{legend}</p>'
    )


def _legend() -> str:
    items = [(OK, "request answered"), (FAILED, "request failed"), (DOWN, "daemon down"), (EVENT, "event")]
    spans = "".join(f'<span><i style="background:{c}"></i>{esc(t)}</span>' for c, t in items)
    return f'<p class="legend">{spans}<span>dashed line: phase boundary</span></p>'


def _events(tl: Timeline) -> str:
    items = "".join(
        f"<li>{e.t:.3f} s: {esc(e.label)}{esc(f' ({e.detail})') if e.detail else ''}</li>" for e in tl.events
    )
    return f'<details><summary>events</summary><ul class="events">{items}</ul></details>' if items else ""


def _section(row: Row, tl: Timeline | None) -> str:
    anchor = f'<section class="cell" id="cell-{esc(row.cell)}"><h2>{esc(row.cell)}</h2>'
    verdict = (
        f'<p class="verdict">{esc(status(row))}: expected {esc(row.expected)}, observed {esc(row.observed)}'
        f"{esc(' (' + row.reason + ')') if row.reason else ''}</p>"
    )
    versions = ", ".join(f"{k} {v}" for k, v in sorted(row.versions.items()))
    meta = f'<p class="meta">started {esc(row.started_at)} on {esc(row.host or "?")}; {esc(versions)}</p>'
    said = notes(row)
    findings = (
        '<ul class="findings">' + "".join(f"<li>{esc(n)}</li>" for n in said) + "</ul>"
        if said
        else "<p>No findings beyond the verdict.</p>"
    )
    told = identity_lines(row)
    identity = (
        '<ul class="identity">' + "".join(f"<li>identity on {esc(line)}</li>" for line in told) + "</ul>"
        if told
        else ""
    )
    drawing = chart(tl) + _events(tl) if tl is not None else "<p>no probe samples in this result</p>"
    return f"{anchor}{verdict}{meta}{findings}{identity}{drawing}</section>"


def _not_run(rows: list[Row]) -> str:
    """One short list, not a section each: it says what is missing without burying the charts."""
    items = "".join(
        f'<li id="cell-{esc(r.cell)}">{esc(r.cell)} (expected {esc(r.expected or "?")})</li>'
        for r in rows
        if not r.ran
    )
    if not items:
        return ""
    return (
        f'<section class="cell not-run"><h2>Not run</h2><p>No result file for:</p><ul>{items}</ul></section>'
    )


def render(
    rows: list[Row],
    timelines: list[Timeline],
    title: str = "lrmatrix report",
    grid: Grid | None = None,
    differences: Sequence[str] = (),
) -> str:
    """The whole page: the grid (when given), the table, a section per cell; ``timelines`` may
    miss cells (not run), the table never does."""
    by_cell = {t.cell: t for t in timelines}
    ran = [r for r in rows if r.ran]
    summary = (
        f"{len(rows)} cells: {sum(r.passed for r in ran)} passed, "
        f"{sum(not r.passed for r in ran)} failed, {len(rows) - len(ran)} not run"
    )
    sections = "".join(_section(r, by_cell.get(r.cell)) for r in ran) + _not_run(rows)
    if differences:
        items = "".join(f"<li>{esc(d)}</li>" for d in differences)
        sections = f'<h2>{esc(HEADING)}</h2><ul class="findings">{items}</ul>' + sections
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="summary">{esc(summary)}</p>'
        f'{_grid(grid) if grid else ""}<div class="scroll">{_table(rows)}</div>'
        f"{_legend()}{sections}</body></html>\n"
    )
