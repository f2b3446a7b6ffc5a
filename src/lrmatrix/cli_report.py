"""The reporting side of the CLI: ``report`` (and, with the report issue, ``compare``, ``ci``).

Kept apart from ``cli.py`` (which runs cells) so reading results never imports drivers.
Each subcommand registers its parser and sets ``func``; handlers return the exit code.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lrmatrix import results
from lrmatrix.errors import BadInput
from lrmatrix.matrix import load_matrix
from lrmatrix.report import rows as report_rows
from lrmatrix.report import terminal


def register(sub: Any) -> None:
    rep = sub.add_parser("report", help="table of result files or folders")
    rep.add_argument("results", nargs="+", metavar="RESULTS")
    rep.add_argument("--newest", action="store_true", help="two results for one cell: take the later")
    rep.add_argument("--no-matrix", action="store_true", help="do not list matrix cells without a result")
    rep.set_defaults(func=cmd_report)


def matrix_cells() -> list[tuple[str, str]]:
    """(cell, expected) in matrix order, or nothing when no matrix/ is reachable from here."""
    try:
        return [(c.name, c.expect) for c in load_matrix().cells]
    except BadInput:
        return []


def cmd_report(args: argparse.Namespace) -> int:
    loaded = results.load_many([Path(p) for p in args.results], newest=args.newest)
    rows = report_rows.build_rows(loaded, [] if args.no_matrix else matrix_cells())
    print(terminal.render(rows))
    return 0 if all(r.passed for r in rows if r.ran) else 1
