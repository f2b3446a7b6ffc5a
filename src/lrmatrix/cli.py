"""``lrmatrix``: list cells, run them, report and recover. Exit 0 ok, 1 behaviour differs from
expectation, 2 bad input or environment (one line on stderr first)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lrmatrix import __version__, cli_plan, cli_report, results
from lrmatrix.errors import BadInput, LrmatrixError
from lrmatrix.matrix import Matrix, load_matrix
from lrmatrix.report import rows as report_rows
from lrmatrix.report import terminal


def cmd_cells(args: argparse.Namespace) -> int:
    matrix = load_matrix()
    if args.format == "json":
        print(json.dumps([_cell_dict(c) for c in matrix.cells], indent=2))
        return 0
    width = max(len(n) for n in matrix.names())
    for c in matrix.cells:
        lr = "on " if c.live_restore else "off"
        print(
            f"{c.name:<{width}}  driver={c.driver:<8} live-restore={lr} expect={c.expect:<8} {c.description}"
        )
    return 0


def _cell_dict(c: object) -> dict[str, object]:
    data = dict(vars(c))
    data["timings"] = vars(data["timings"])
    return data


def project_root(matrix: Matrix) -> Path:
    return matrix.source.parent.parent


def cmd_run(args: argparse.Namespace) -> int:
    matrix = load_matrix()
    cells = [matrix.cell(name) for name in args.cells]  # all validated before anything runs
    root = project_root(matrix)
    tests = root / "infra_tests"
    if not tests.is_dir():
        raise BadInput(f"{tests} is missing; run from an lrmatrix checkout")
    out = Path(args.results_dir).resolve()
    codes = []
    for cell in cells:
        argv = [
            sys.executable,
            "-m",
            "pytest",
            str(tests),
            "--cell",
            cell.name,
            "--results-dir",
            str(out),
            f"--junitxml={out / (cell.name + '.xml')}",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        if args.image:
            argv += ["--image", args.image]
        print(f"== {cell.name}: expect {cell.expect}", flush=True)
        codes.append(_run_child(argv, root))
        if codes[-1] not in (0, 1):
            break
    found = [out / f"{c.name}.json" for c in cells if (out / f"{c.name}.json").exists()]
    print()
    print(
        terminal.render(
            report_rows.build_rows([results.load(p) for p in found], [(c.name, c.expect) for c in cells])
        )
    )
    if any(code not in (0, 1) for code in codes):
        return 2
    return 1 if any(codes) else 0


def _run_child(argv: list[str], cwd: Path) -> int:
    """Run one cell; on Ctrl-C/SIGTERM let the child tear its node down before we exit."""
    child = subprocess.Popen(argv, cwd=cwd)
    previous = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the child got the same SIGINT from the terminal
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_recover(args: argparse.Namespace) -> int:
    """Remove engine nodes a killed harness left behind (namespaces, daemons, mounts, state)."""
    from lrmatrix.drivers.engine import EngineNode

    matrix = load_matrix()
    engine_cells = [c for c in matrix.cells if c.driver == "engine"]
    if not engine_cells:
        return 0
    nodes = EngineNode.leftovers(engine_cells[0])
    if nodes:
        EngineNode(engine_cells[0]).sanity_checks()
    for node in nodes:
        print(f"removing leftover engine node {node.name}")
        node.destroy()
        residue = node.residue()
        if residue:
            print(f"  could not remove: {'; '.join(residue)}", file=sys.stderr)
            return 1
    if not nodes:
        print("nothing to recover")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "cells": cmd_cells,
    "run": cmd_run,
    "recover": cmd_recover,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lrmatrix", description=__doc__)
    p.add_argument("--version", action="version", version=f"lrmatrix {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    cells = sub.add_parser("cells", help="list the matrix's cells")
    cells.add_argument("--format", choices=("text", "json"), default="text")
    run = sub.add_parser("run", help="run cells (pytest infra_tests --cell ...) and print the table")
    run.add_argument("cells", nargs="+", metavar="CELL")
    run.add_argument("--results-dir", default="results")
    run.add_argument(
        "--image", default=None, help="workload image the node can pull (default: offline build)"
    )
    cli_report.register(sub)
    cli_plan.register(sub)
    sub.add_parser("recover", help="remove engine nodes left by a killed run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        handler = COMMANDS.get(args.command) or args.func
        return int(handler(args))
    except LrmatrixError as exc:
        print(f"lrmatrix: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
