"""``lrmatrix recover``: undo what a killed run left. Each driver knows what its runs leave
(``Driver.recover``): without ``--node``, what this machine holds (engine nodes, with their
containers' processes) and the scratch folders of image builds and engine fetches whose
process died; with ``--node``, that node's unfinished runs (ssh: from the record the driver
keeps on the node)."""

from __future__ import annotations

import argparse
from typing import Any

from lrmatrix.drivers import NodeSpec, registry
from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import load_matrix


def register(sub: Any) -> None:
    """Add ``recover`` to the CLI's subcommands (``sub`` is argparse's subparsers object)."""
    rec = sub.add_parser(
        "recover", help="undo what a killed run left (engine nodes here, or --node ssh://...)"
    )
    rec.add_argument("--node", default=None, help="an ssh:// node whose unfinished runs to undo")
    rec.add_argument("--allow-disruption", action="store_true", help="required with --node: restarts dockerd")
    rec.set_defaults(func=cmd_recover)


def cmd_recover(args: argparse.Namespace) -> int:
    """Exit 0 when everything found was undone (or nothing was found), 1 when something could
    not be removed, 2 with one line for a node that cannot be recovered by name."""
    matrix = load_matrix()
    if args.node:
        spec = NodeSpec.parse(args.node, {"allow_disruption": "true" if args.allow_disruption else "false"})
        driver = registry.get(spec.scheme)
        if not driver.recovers_by_name:
            schemes = ", ".join(f"{s}://" for s in registry.by_name())
            raise BadInput(
                f"recover --node takes a node of {schemes}, not {spec.scheme}://; "
                "`lrmatrix recover` without --node undoes what this machine holds"
            )
        code = driver.recover(matrix, spec)
        if code is None:
            print(f"nothing to recover on {args.node}")
        return code or 0
    from lrmatrix.matrix import engines
    from lrmatrix.scratch import cleanup
    from lrmatrix.workload import image

    scratch = [
        *cleanup(engines.cache_dir() / ".lock", engines.remove_stale),
        *cleanup(image.cache_dir() / ".lock", image.remove_stale),
    ]
    for path in scratch:
        print(f"removed the scratch folder {path} of a build or fetch whose process died")
    codes = [code for d in registry.drivers().values() if (code := d.recover(matrix, None)) is not None]
    if not codes and not scratch:
        print("nothing to recover")
    return max(codes, default=0)
