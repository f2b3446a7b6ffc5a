"""``lrmatrix``: list cells, run them, report and recover. Exit 0 ok, 1 behaviour differs from
expectation, 2 bad input or environment (one line on stderr first)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from lrmatrix import __version__, options, preflight
from lrmatrix.cli import forked_cell
from lrmatrix.cli import init as cli_init
from lrmatrix.cli import plan as cli_plan
from lrmatrix.cli import recover as cli_recover
from lrmatrix.cli import report as cli_report
from lrmatrix.errors import INTERRUPTED, LrmatrixError
from lrmatrix.interrupts import Forwarder, mute_broken_outputs
from lrmatrix.matrix.cells import Cell, load_matrix, matrix_origin
from lrmatrix.options import cell_argv
from lrmatrix.report import grid
from lrmatrix.report import rows as report_rows
from lrmatrix.report.scenario_differences import engine_differences
from lrmatrix.results import files as results


def cmd_cells(args: argparse.Namespace) -> int:
    matrix = load_matrix()
    if args.format == "json":
        print(json.dumps([_cell_dict(c) for c in matrix.cells], indent=2))
        return 0
    print(f"matrix: {matrix_origin(matrix.source.parent)}")
    width = max(len(n) for n in matrix.names())
    for c in matrix.cells:
        lr = "on " if c.live_restore else "off"
        print(
            f"{c.name:<{width}}  driver={c.driver:<8} live-restore={lr} expect={c.expect:<8} {c.description}"
        )
    return 0


def _cell_dict(c: Cell) -> dict[str, object]:
    return dataclasses.asdict(c)  # nested too: timings, engines


def cmd_run(args: argparse.Namespace) -> int:
    # from the start: an interrupt while the matrix loads must stop the cells from starting too
    running: list[psutil.Process] = []
    forwarder = Forwarder(lambda: running, "lrmatrix").install()
    try:
        return _run_cells(args, running, forwarder)
    finally:
        forwarder.restore()


def _run_cells(args: argparse.Namespace, running: list[psutil.Process], forwarder: Forwarder) -> int:
    matrix = load_matrix()
    cells = [matrix.cell(name) for name in args.cells]  # all validated before anything runs
    out = Path(args.results_dir).resolve()
    preflight.writable_folder(out, "--results-dir", "pass a folder you can write to")
    passthrough = options.passthrough(vars(args), skip=("--results-dir",))
    started = time.time()
    forked_cell.warm()
    codes = []
    for cell in cells:
        if forwarder.received:
            break
        print(f"== {cell.name}: expect {cell.expect}", flush=True)
        junit = f"--junitxml={out / (cell.name + '.xml')}"
        argv = cell_argv(cell.name, out, junit, "-q", *passthrough)
        codes.append(_run_child(argv, matrix.source.parent, running, forwarder))
        if codes[-1] not in (0, 1):
            break
    mute_broken_outputs()  # a hang-up closed the terminal: the table has nowhere to go
    # only this run's results: a cell that stopped before writing must not show an old file
    found = [p for c in cells if (p := out / f"{c.name}.json").exists() and p.stat().st_mtime >= started]
    if found:  # a cell refused before it began (exit 2) has said why; no table of nothing
        loaded = [results.load(p) for p in found]
        rows = report_rows.build_rows(loaded, [(c.name, c.expect) for c in cells])
        # several cells: the grid of the ones this run ran, then the table, as `report` shows
        view = grid.build(rows, grid.places(cells, loaded), grid.RUN_LEGEND) if len(cells) > 1 else None
        print()
        print(cli_report.table_text(rows, args, view, engine_differences(loaded)))
    if forwarder.received or INTERRUPTED in codes:  # the cell tore its node down; its result says where
        return INTERRUPTED
    if any(code not in (0, 1) for code in codes):
        return 2
    return 1 if any(codes) else 0


def _run_child(argv: list[str], matrix_dir: Path, running: list[psutil.Process], forwarder: Forwarder) -> int:
    """Run one cell on the very matrix this command validated, forked from this process
    (``forked_cell``). An interrupt sent to this process alone reaches the cell through
    ``forwarder``, and this process waits while the cell tears its node down (one sent to the
    group reaches both, and the cell takes it once)."""
    child = forked_cell.start(argv, {"LRMATRIX_MATRIX": str(matrix_dir)}, forwarder.restore)
    running.append(child)
    try:
        if forwarder.first.signum is not None:  # it came while the child was being started
            child.send_signal(forwarder.first.signum)
        code = child.wait()  # psutil reaps its own child and gives its status
        return int(code) if code is not None else 2  # unreadable: an error, never a pass
    finally:
        running.remove(child)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lrmatrix", description=__doc__)
    p.add_argument("--version", action="version", version=f"lrmatrix {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    cells = sub.add_parser("cells", help="list the matrix's cells")
    cells.add_argument("--format", choices=("text", "json"), default="text")
    cells.set_defaults(func=cmd_cells)
    run = sub.add_parser("run", help="run cells (the node checks with --cell ...) and print the table")
    run.add_argument("cells", nargs="+", metavar="CELL")
    run.set_defaults(func=cmd_run)
    options.add_all(run.add_argument)
    cli_report.add_wide(run)
    cli_report.register(sub)
    cli_plan.register(sub)
    cli_recover.register(sub)
    cli_init.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LrmatrixError as exc:
        print(f"lrmatrix: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lrmatrix: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
