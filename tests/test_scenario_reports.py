"""What a reader gets from scenario results: compare names a value that differs between two
engines (and stays quiet where they agree), the engine differences of a set of results, and
the docs table with its links and marks. From a real run's result, and copies of it on
another engine."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from lrmatrix.cli.main import main
from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.report.compare import compare
from lrmatrix.report.scenario_differences import HEADING, engine_differences, pair_differences
from lrmatrix.report.scenario_table import END, START, UNEXPECTED, node_table, replace_table, table
from lrmatrix.results import files as results
from lrmatrix.results.model import Result, parse

RUN = Path(__file__).parent / "data" / "scenario-run" / "engine-liverestore-exited-while-down.json"


def on_engine(platform: str, docker: str, **observed: str) -> Result:
    """The real result as if run on ``platform``, with ``observed`` values for its checks."""
    data = copy.deepcopy(results.read_json(RUN))
    data["cell"] = data["cell"].replace("engine-", f"{platform}-", 1)
    data["platform"], data["versions"]["docker"] = platform, docker
    for o in data["scenario"]["observations"]:
        o["observed"] = observed.get(o["check"].replace("-", "_"), o["observed"])
    return parse(data)


def test_the_real_result_holds_its_observations():
    r = results.load(RUN)
    assert r.scenario is not None and r.scenario.name == "exited-while-down"
    assert {o.check: o.observed for o in r.scenario.observations} == {
        "exit-status": "exited 3",
        "autoremove": "removed",
    }


def test_a_value_that_differs_between_engines_is_named_and_an_equal_one_is_not():
    base = results.load(RUN)
    same, other = on_engine("engine26", "26.1.5"), on_engine("engine26", "26.1.5", exit_status="exited 255")
    assert pair_differences(base, same) == []
    assert pair_differences(base, other) == [
        "exited-while-down: exit-status: exited 3 on engine (docker 20.10.24), "
        "exited 255 on engine26 (docker 26.1.5)"
    ]
    assert engine_differences([base, same]) == []
    assert engine_differences([base, other, on_engine("engine28", "28.5.2")]) == [
        "exited-while-down (liverestore): exit-status: exited 255 on engine26 (docker 26.1.5); "
        "exited 3 on engine (docker 20.10.24), engine28 (docker 28.5.2)"
    ]


def test_compare_names_the_engine_difference_as_information():
    base = results.load(RUN)
    cmp = compare(
        [base], [on_engine("engine26", "26.1.5", autoremove="left exited 3")], pair_map={"engine": "engine26"}
    )
    (pair,) = cmp.pairs
    found = [c for c in pair.changes if c.kind == "scenario"]
    assert [(c.effect, c.what) for c in found] == [
        (
            "info",
            "exited-while-down: autoremove: removed on engine (docker 20.10.24), "
            "left exited 3 on engine26 (docker 26.1.5)",
        )
    ]
    (quiet,) = compare([base], [on_engine("engine26", "26.1.5")], pair_map={"engine": "engine26"}).pairs
    assert not [c for c in quiet.changes if c.kind == "scenario"]


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "html"])
def test_lrmatrix_report_names_where_the_engines_differ_and_says_nothing_where_they_agree(
    tmp_path, capsys, fmt
):
    base = results.read_json(RUN)
    for folder, exit_status in (("differ", "exited 255"), ("agree", "exited 3")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.json").write_text(json.dumps(base))
        other = on_engine("engine26", "26.1.5", exit_status=exit_status).document()
        (tmp_path / folder / "b.json").write_text(json.dumps(other))
    line = (
        "exited-while-down (liverestore): exit-status: exited 255 on engine26 (docker 26.1.5); "
        "exited 3 on engine (docker 20.10.24)"
    )
    main(["report", "--format", fmt, "--exit-zero", str(tmp_path / "differ")])
    out = capsys.readouterr().out
    assert HEADING in out and line in " ".join(out.replace("\\", "").split()), out[-2000:]
    main(["report", "--format", fmt, "--exit-zero", str(tmp_path / "agree")])
    assert HEADING not in capsys.readouterr().out


def test_the_table_links_each_square_and_marks_a_value_the_matrix_does_not_expect():
    matrix = load_matrix(ROOT / "matrix")
    runs = [results.load(RUN), on_engine("engine26", "26.1.5", autoremove="left exited 3")]
    lines = table(runs, "scenario-results", matrix)
    row = next(line for line in lines if ": autoremove |" in line)
    expected = (
        load_matrix(ROOT / "matrix")
        .cell("engine-liverestore-exited-while-down")
        .scenario.expect.get("autoremove")
    )
    first = "[removed](scenario-results/engine-liverestore-exited-while-down.json)"
    assert first + ("" if expected == "removed" else f" {UNEXPECTED}") in row
    assert (
        f"[left exited 3](scenario-results/engine26-liverestore-exited-while-down.json) {UNEXPECTED}" in row
    )
    assert any(line.startswith("- exited-while-down (liverestore): autoremove:") for line in lines)
    with pytest.raises(BadInput, match="no scenario result"):
        table([], "x", matrix)


def test_the_node_table_has_a_column_per_node_and_marks_what_its_run_failed():
    kept = copy.deepcopy(results.read_json(RUN))  # a run made to measure: nothing to meet yet
    for o in kept["scenario"]["observations"]:
        o.update(expected=o["observed"], passed=True)
    failed = copy.deepcopy(kept)
    failed["scenario"]["observations"][1].update(observed="left exited 3", passed=False)
    lines = node_table({"sysvinit": [parse(kept)], "systemd": [parse(failed)]}, "r/ssh")
    assert lines[0] == (
        "| scenario: check | sysvinit (20.10.24) LR on | sysvinit (20.10.24) LR off | "
        "systemd (20.10.24) LR on | systemd (20.10.24) LR off |"
    )
    row = next(line for line in lines if ": autoremove |" in line)
    cell = "engine-liverestore-exited-while-down.json"
    assert (
        f"| [removed](r/ssh/sysvinit/{cell}) |  | [left exited 3](r/ssh/systemd/{cell}) {UNEXPECTED} |  |"
        in row
    )


def test_the_table_goes_between_its_markers_only():
    page = f"# t\n\nbefore\n{START}\nold\n{END}\nafter\n"
    assert replace_table(page, ["new"]) == f"# t\n\nbefore\n{START}\nnew\n{END}\nafter\n"
    with pytest.raises(BadInput, match="needs one"):
        replace_table("no markers", ["new"])


def test_the_docs_table_is_what_the_docs_results_say():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "scenario-table"), "--check"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
