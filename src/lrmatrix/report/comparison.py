"""``lrmatrix compare`` output as text, Markdown or JSON, all from one ``Comparison``.

Marks: ``!`` regression, ``+`` improvement, ``~`` information (versions, expectations).
"""

from __future__ import annotations

import json

from lrmatrix.report.compare import Comparison, Pair
from lrmatrix.report.grid import MARKS, Grid
from lrmatrix.report.markdown import grid_table, md
from lrmatrix.report.terminal import grid_text

MARK = MARKS  # the grid marks a square as its pair's lines are marked


def summary(cmp: Comparison) -> str:
    regressions = sum(p.regression for p in cmp.pairs)
    verdict = "REGRESSION" if cmp.regression else "same behaviour"
    known = "".join(f"; {cell} known growth +{ms:.0f} ms" for cell, ms in sorted(cmp.known_growth.items()))
    return (
        f"{verdict}: {regressions} of {len(cmp.pairs)} pair(s) regressed "
        f"(node path tolerance {cmp.tolerance.describe()}{known})"
    )


def _hint(cmp: Comparison) -> str:
    """Cells unpaired on both sides usually mean the platforms differ and --pair is missing."""
    lonely = {p.status for p in cmp.pairs} >= {"only in baseline", "only in candidate"}
    return "hint: cells on one side only; pair platforms with --pair BASE=CAND" if lonely else ""


def _status(pair: Pair) -> str:
    """Regressions shout, including a cell the candidate did not run."""
    if pair.status == "regression":
        return "REGRESSION"
    return f"{pair.status} (REGRESSION)" if pair.regression else pair.status


def _lines(pair: Pair) -> list[str]:
    return [f"{MARK[c.effect]} {c.what}" for c in pair.changes]


def text(cmp: Comparison, grid: Grid | None = None) -> str:
    """For a terminal or CI log: the grid (when given), then one line per pair, its changes
    indented under it."""
    out = [grid_text(grid, wide=True), ""] if grid else []
    for pair in cmp.pairs:
        out.append(f"{pair.name}: {_status(pair)}")
        out += [f"  {line}" for line in _lines(pair)]
    hint = _hint(cmp)
    out += [hint, summary(cmp)] if hint else [summary(cmp)]
    return "\n".join(out)


def markdown(cmp: Comparison, grid: Grid | None = None) -> str:
    """For the upgrade's pull request: the grid (when given), then one table row per pair."""
    out = ["## lrmatrix compare", "", *([*grid_table(grid), ""] if grid else [])]
    out += ["| pair | status | changes |", "|---|---|---|"]
    for pair in cmp.pairs:
        changes = "<br>".join(md(line) for line in _lines(pair)) or "-"
        status = f"**{md(pair.status)}**" if pair.regression else md(pair.status)
        out.append(f"| {md(pair.name)} | {status} | {changes} |")
    hint = _hint(cmp)
    out += ["", *([md(hint), ""] if hint else []), summary(cmp)]
    return "\n".join(out) + "\n"


def as_json(cmp: Comparison, grid: Grid | None = None) -> str:
    """For other tools; versioned like result files. No grid: it is a layout of the pairs."""
    return json.dumps(cmp.as_dict(), indent=2)


RENDERERS = {"text": text, "markdown": markdown, "json": as_json}
