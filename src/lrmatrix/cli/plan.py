"""``lrmatrix plan CELL``: print the steps a cell runs, in order (a dry run)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lrmatrix.errors import LrmatrixError
from lrmatrix.matrix.cells import load_matrix


def register(sub: Any) -> None:
    """Add ``plan`` to the CLI's subcommands (``sub`` is argparse's subparsers object)."""
    p = sub.add_parser(
        "plan",
        help="print the steps a cell runs, phase by phase, with every wait and its bound (nothing runs)",
    )
    p.add_argument("cell", metavar="CELL")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0 with the plan; 2 with one line for an unknown cell."""
    from lrmatrix.run import plan

    try:
        cell = load_matrix().cell(args.cell)
    except LrmatrixError as exc:
        print(f"lrmatrix: {exc}", file=sys.stderr)
        return exc.exit_code
    steps = plan.plan_cell(cell)
    if args.format == "json":
        print(json.dumps(plan.as_json(cell, steps), indent=2))
    else:
        sys.stdout.write(plan.render(cell, steps))
    return 0
