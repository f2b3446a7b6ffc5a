"""The reporting side of the CLI: ``report``, ``compare`` and ``ci``.

Kept apart from ``cli.py`` (which runs cells) so reading results never imports drivers.
Each subcommand registers its parser and sets ``func``; handlers return the exit code:
0 ok, 1 a cell failed or the candidate regressed, 2 bad input (raised as ``BadInput``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrmatrix.cli import ci_workflows
from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.matrix.model import Cell
from lrmatrix.report import compare, comparison, grid, html, markdown, terminal, timeline
from lrmatrix.report import rows as report_rows
from lrmatrix.report.scenario_differences import engine_differences
from lrmatrix.results import files as results


def register(sub: Any) -> None:
    rep = sub.add_parser("report", help="matrix table (and timelines) from result files or folders")
    rep.add_argument("results", nargs="+", metavar="RESULTS")
    rep.add_argument("--format", choices=("terminal", "markdown", "html"), default="terminal")
    add_wide(rep)
    _output_and_newest(rep)
    rep.add_argument("--no-matrix", action="store_true", help="do not list matrix cells without a result")
    rep.add_argument("--title", default="lrmatrix report")
    rep.add_argument(
        "--exit-zero", action="store_true", help="exit 0 when the report was written, even if a cell failed"
    )
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser("compare", help="gate an upgrade: baseline results vs candidate results")
    cmp.add_argument("baseline", metavar="BASELINE", help="result file or folder")
    cmp.add_argument("candidate", metavar="CANDIDATE", help="result file or folder")
    cmp.add_argument(
        "--pair", action="append", default=[], metavar="BASE=CAND", help="pair platforms, e.g. k8s128=k8s130"
    )
    cmp.add_argument(
        "--tolerance-ms",
        type=float,
        default=compare.DEFAULT_TOLERANCE_MS,
        help="node path: growth always allowed (outage, failed while down, recovery), the floor of "
        "the tolerance (default %(default).0f)",
    )
    cmp.add_argument(
        "--tolerance-pct",
        type=float,
        default=compare.DEFAULT_TOLERANCE_PCT,
        help="node path: growth allowed as a share of the baseline's value, when above the floor "
        "(default %(default).0f)",
    )
    cmp.add_argument(
        "--coverage-drop",
        type=float,
        default=compare.DEFAULT_COVERAGE_DROP,
        help="node path: how far probe coverage (0..1) may fall (default %(default).2f)",
    )
    cmp.add_argument(
        "--allow-failing",
        action="append",
        default=[],
        metavar="CELL",
        help="a candidate cell known to fail: its changes are listed but do not gate",
    )
    cmp.add_argument(
        "--known-growth",
        action="append",
        default=[],
        metavar="CELL=MS",
        help="a candidate cell's outage is known to be up to MS longer (e.g. a slower daemon start): "
        "added to its down-time tolerance only, and said in the output",
    )
    cmp.add_argument("--format", choices=tuple(comparison.RENDERERS), default="text")
    _output_and_newest(cmp)
    cmp.set_defaults(func=cmd_compare)

    ci = sub.add_parser("ci", help="write a CI workflow with one job per matrix cell")
    ci.add_argument("kind", choices=tuple(ci_workflows.GENERATORS))
    ci.add_argument("--output", metavar="FILE", help="e.g. .github/workflows/lrmatrix.yml (default: stdout)")
    ci.set_defaults(func=cmd_ci)


def add_wide(p: argparse.ArgumentParser) -> None:
    """The terminal table's width switch (``report`` and ``run``); Markdown and HTML show every column."""
    p.add_argument(
        "--wide",
        action="store_true",
        help=f"terminal table: every column (versions, PIDs kept, coverage...), not {terminal.WIDTH} wide",
    )


def table_text(
    rows: list[report_rows.Row],
    args: argparse.Namespace,
    view: grid.Grid | None = None,
    differences: Sequence[str] = (),
) -> str:
    """The terminal table for ``rows`` (after ``view``'s grid): coloured only on a terminal."""
    to_tty = not getattr(args, "output", None) and sys.stdout.isatty()
    return terminal.render(rows, wide=args.wide, color=to_tty, grid=view, differences=differences)


def _output_and_newest(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--newest", action="store_true", help="two results for one cell: take the later")


def emit(text: str, output: str | None) -> None:
    """Stdout, or a file (folders created) with a one-line note of where it went."""
    if not output:
        print(text.rstrip("\n"))
        return
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}; choose another --output") from exc
    print(f"wrote {path}", file=sys.stderr)


def matrix_cells() -> list[Cell]:
    """The matrix's cells in order, or none when no matrix/ is reachable from here."""
    try:
        return list(load_matrix().cells)
    except BadInput:
        return []


def cmd_report(args: argparse.Namespace) -> int:
    loaded = results.load_many([Path(p) for p in args.results], newest=args.newest)
    if not loaded:
        raise BadInput(f"no result files in {' '.join(args.results)}")
    ran = {r.cell for r in loaded}
    # a scenario cell is listed once it has a result: the dozens the matrix has get their own
    # table (docs/scenarios.md), and "not run" rows of them would bury the cells that ran
    cells = [c for c in ([] if args.no_matrix else matrix_cells()) if c.scenario is None or c.name in ran]
    rows = report_rows.build_rows(loaded, [(c.name, c.expect) for c in cells])
    view = grid.build(rows, grid.places(cells, loaded))
    differences = engine_differences(loaded)
    if args.format == "html":
        text = html.render(rows, [timeline.from_result(r) for r in loaded], args.title, view, differences)
    elif args.format == "markdown":
        text = markdown.render(rows, args.title, view, differences)
    else:
        text = table_text(rows, args, view, differences)
    emit(text, args.output)
    if args.exit_zero:
        return 0
    return 0 if all(r.passed for r in rows if r.ran) else 1


def cmd_compare(args: argparse.Namespace) -> int:
    pair_map = compare.parse_pairs(args.pair)
    base = results.load_many([Path(args.baseline)], newest=args.newest)
    cand = results.load_many([Path(args.candidate)], newest=args.newest)
    known = compare.parse_known_growth(args.known_growth)
    tolerance = compare.Tolerance(args.tolerance_ms, args.tolerance_pct, args.coverage_drop)
    result = compare.compare(base, cand, tolerance, pair_map, tuple(args.allow_failing), known)
    emit(comparison.RENDERERS[args.format](result, grid.compared(result, base, cand)), args.output)
    return 1 if result.regression else 0


def cmd_ci(args: argparse.Namespace) -> int:
    emit(ci_workflows.render(args.kind, load_matrix()), args.output)
    return 0
