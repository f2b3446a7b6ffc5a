"""``lrmatrix plan CELL``: print what a Kubernetes cell would run, in order (a dry run)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lrmatrix.errors import LrmatrixError
from lrmatrix.matrix import load_matrix


def register(sub: Any) -> None:
    """Add ``plan`` to the CLI's subcommands (``sub`` is argparse's subparsers object)."""
    p = sub.add_parser(
        "plan",
        help="print every command a Kubernetes cell would run (minikube, API calls, systemctl), in order",
    )
    p.add_argument("cell", metavar="CELL")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0 with the plan; 2 with one line for an unknown or non-Kubernetes cell."""
    from lrmatrix import plan  # the kubernetes client is optional: import only when planning

    try:
        cell = load_matrix().cell(args.cell)
        calls = plan.plan_cell(cell)
    except LrmatrixError as exc:
        print(f"lrmatrix: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.format == "json":
        print(json.dumps([{"kind": c.kind, "t": c.t, "text": c.display} for c in calls], indent=2))
    else:
        sys.stdout.write(plan.render(cell, calls))
    return 0
