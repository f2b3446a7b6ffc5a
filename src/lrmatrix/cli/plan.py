"""``lrmatrix plan CELL``: print the steps a cell runs, in order (a dry run)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lrmatrix.errors import LrmatrixError

#: the node a plan shows for a cell that runs on one of yours (``--node`` names it)
PLACEHOLDER_NODE = "ssh://user@your-node"


def register(sub: Any) -> None:
    """Add ``plan`` to the CLI's subcommands (``sub`` is argparse's subparsers object)."""
    p = sub.add_parser(
        "plan",
        help="print the steps a cell runs, phase by phase, with every wait and its bound (nothing runs)",
    )
    p.add_argument("cell", metavar="CELL")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--commands",
        action="store_true",
        help="under each step, the command lines and Kubernetes API calls it runs on the node",
    )
    p.add_argument(
        "--node",
        metavar="SPEC",
        help=f"the node the commands are shown for (ssh://user@host[:port]); default: the cell's "
        f"driver, or {PLACEHOLDER_NODE} for a cell that needs a node of yours",
    )
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0 with the plan; 2 with one line for an unknown cell or node (nothing runs)."""
    from lrmatrix.drivers import NodeSpec, make_node
    from lrmatrix.matrix.cells import load_matrix
    from lrmatrix.run import plan

    try:
        cell = load_matrix().cell(args.cell)
        node = None
        if args.commands or args.node:
            spec_text = args.node or (PLACEHOLDER_NODE if cell.needs_node else None)
            node = make_node(cell, NodeSpec.parse(spec_text) if spec_text else None)
        steps = plan.plan_cell(cell, node)
    except LrmatrixError as exc:
        print(f"lrmatrix: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.format == "json":
        print(json.dumps(plan.as_json(cell, steps), indent=2))
    else:
        sys.stdout.write(plan.render(cell, steps))
    return 0
