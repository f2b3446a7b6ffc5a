"""The report's grid (platforms x variants and extras) from real result documents and ones
derived from them: a cell that passed, failed, did not run, and one that changed in compare."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.report import comparison, grid, html, markdown, terminal
from lrmatrix.report.compare import compare
from lrmatrix.report.rows import build_rows
from lrmatrix.results import files as results
from lrmatrix.results.model import Result

DATA = Path(__file__).parent / "data"
ENGINES = DATA / "run-engines"
MATRIX = load_matrix(Path(__file__).parent.parent / "matrix")


def doc(cell: str, run: Path = ENGINES) -> dict:
    return copy.deepcopy(results.read_json(run / f"{cell}.json"))


def model(data: dict) -> Result:
    return results.validate(data, Path(f"{data['cell']}.json"))


def outage(data: dict) -> str:
    return f"{data['probes']['node']['longest_outage_ms'] / 1000:.3f}s"


def failed(data: dict) -> dict:
    """A live-restore cell whose node path lost requests: it observed an outage and failed."""
    data["verdict"].update(observed="outage", passed=False, reason="40/100 requests failed while down")
    data["probes"]["node"].update(failed_while_down=40, longest_outage_ms=2000.0)
    return data


def report_grid(loaded: list[Result], cells=MATRIX.cells) -> tuple[grid.Grid, list]:
    rows = build_rows(loaded, [(c.name, c.expect) for c in cells])
    return grid.build(rows, grid.places(cells, loaded)), rows


def square(g: grid.Grid, platform: str, column: str) -> grid.Square:
    return g.squares[g.platforms.index(platform)][g.header()[1:].index(column)]


def test_rows_and_columns_come_from_the_matrix_model():
    g, _ = report_grid(results.load_many([ENGINES]))
    assert g.platforms == MATRIX.axes["platform"]
    assert g.header()[1:3] == ["liverestore", "noliverestore"]  # the plain variants open the grid
    plain = [c for c in MATRIX.cells if c.scenario is None]  # scenario cells: only once run
    columns = {(c.variant, c.extras) for c in plain}
    assert set(g.columns) == columns and len(g.columns) == len(columns)
    for c in plain:  # every cell of the matrix has exactly its square
        assert square(g, c.platform, "-".join((c.variant, *c.extras))).cell == c.name
    assert sum(s.kind != "none" for line in g.squares for s in line) == len(plain)


def test_a_square_shows_pass_the_observed_behaviour_and_the_node_outage():
    g, _ = report_grid(results.load_many([ENGINES]))
    for cell in ("engine-liverestore", "engine26-noliverestore", "engine26-liverestore-downgrade20"):
        data, c = doc(cell), MATRIX.cell(cell)
        s = square(g, c.platform, "-".join((c.variant, *c.extras)))
        assert (s.kind, s.lines) == ("pass", ("PASS", data["verdict"]["observed"], outage(data)))
        assert s.linked


def test_a_failed_cell_shows_fail_and_what_it_observed():
    data = failed(doc("engine-liverestore"))
    g, _ = report_grid([model(data)])
    s = square(g, "engine", "liverestore")
    assert (s.kind, s.lines) == ("fail", ("FAIL", "outage", "2.000s")) and s.linked


def test_a_cell_without_a_result_is_empty_and_one_the_matrix_lacks_is_marked():
    g, _ = report_grid([model(doc("engine-liverestore"))])
    empty = square(g, "k8s131", "noliverestore")
    assert (empty.kind, empty.cell, empty.lines) == ("not-run", "k8s131-noliverestore", ())
    assert not empty.linked
    assert square(g, "k8s131", "liverestore-crash").kind == "none"


def test_a_users_own_platform_is_a_row_of_its_own_from_the_result():
    data = doc("engine26-liverestore")
    data.update(cell="engine9-liverestore", platform="engine9")
    g, rows = report_grid([model(data)])
    assert g.platforms[-1] == "engine9" and len(g.platforms) == len(MATRIX.axes["platform"]) + 1
    assert square(g, "engine9", "liverestore").lines == ("PASS", "survive", outage(data))
    assert [r.cell for r in rows][-1] == "engine9-liverestore"  # the flat table has it too


def test_without_the_matrix_only_the_results_places_show():
    loaded = results.load_many([ENGINES])
    g, _ = report_grid(loaded, cells=())
    assert g.platforms == ("engine", "engine26")
    assert "liverestore-crash" not in g.header()
    assert sum(s.kind == "pass" for line in g.squares for s in line) == len(loaded)


def test_the_terminal_report_opens_with_the_grid_within_120_columns():
    g, rows = report_grid(results.load_many([ENGINES]))
    out = terminal.render(rows, grid=g)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= terminal.WIDTH
    flat = next(i for i, line in enumerate(lines) if line.split()[:2] == ["cell", "result"])
    top = lines[:flat]
    assert [ln.split()[0] for ln in top if ln.split() and ln.split()[0] in g.platforms] == list(g.platforms)
    engine28 = next(ln for ln in top if ln.startswith("engine28 "))
    assert engine28.split()[1:3] == [grid.NO_CELL] * 2  # LR on/off not run: blank, then no cells
    engine = top[top.index(next(ln for ln in top if ln.startswith("engine ")))]
    assert engine.split()[1:3] == ["PASS", "PASS"]
    assert "Columns: LR on = liverestore, LR off = noliverestore;" in out  # the short headers, said
    assert "\x1b[" not in out


def test_markdown_opens_with_the_grid_then_the_flat_table():
    g, rows = report_grid([model(failed(doc("engine-liverestore"))), model(doc("engine-noliverestore"))])
    out = markdown.render(rows, grid=g)
    tables = re.findall(r"((?:^\|.*\n)+)", out, re.M)
    assert len(tables) == 2 and tables[0].startswith("| platform |") and tables[1].startswith("| cell |")
    engine = next(line for line in tables[0].splitlines() if line.startswith("| engine |"))
    squares = [s.strip() for s in engine.strip("|").split("|")]
    assert squares[1] == "FAIL<br>outage<br>2.000s"
    assert squares[2] == "PASS<br>outage<br>" + outage(doc("engine-noliverestore"))
    assert squares[3] == ""  # engine-liverestore-crash: in the matrix, not run
    k8s = next(line for line in tables[0].splitlines() if line.startswith("| k8s128 |"))
    assert [s.strip() for s in k8s.strip("|").split("|")][1:4] == ["", "", grid.NO_CELL]


def test_html_squares_link_to_their_sections_and_not_run_ones_are_empty():
    loaded = [model(doc("engine-liverestore"))]
    g, rows = report_grid(loaded)
    page = html.render(rows, [], grid=g)
    table = page[page.index('<table class="grid">') : page.index('<table class="matrix">')]
    assert table.count("<a href=") == 1
    assert '<a href="#cell-engine-liverestore">PASS<br>survive<br>' in table
    assert 'id="cell-engine-liverestore"' in page
    assert '<td class="not-run" data-cell="k8s134-liverestore"></td>' in table


def compared(baseline: list[dict], candidate: list[dict], **kw) -> tuple[grid.Grid, str]:
    b, c = [model(d) for d in baseline], [model(d) for d in candidate]
    cmp = compare(b, c, **kw)
    g = grid.compared(cmp, b, c)
    return g, comparison.text(cmp, g)


def test_compare_grid_of_two_runs_marks_nothing():
    base = [doc(c, DATA / "run-a") for c in ("engine-liverestore", "engine-noliverestore")]
    cand = [doc(c, DATA / "run-b") for c in ("engine-liverestore", "engine-noliverestore")]
    g, out = compared(base, cand)
    assert [s.mark for s in g.squares[0]] == ["", ""]
    assert square(g, "engine", "liverestore").lines[:2] == ("PASS", "survive")
    assert out.index("platform") < out.index("engine-liverestore: same behaviour")
    assert "in neither folder" in g.legend and "no such cell" not in g.legend  # compare reads no matrix


def test_compare_grid_marks_a_regression_and_an_improvement_with_what_changed():
    base = [doc("engine-liverestore"), failed(doc("engine26-liverestore"))]
    cand = [failed(doc("engine-liverestore")), doc("engine26-liverestore")]
    g, out = compared(base, cand)
    worse = square(g, "engine", "liverestore")
    assert worse.lines == ("! PASS→FAIL", "survive→outage", f"{outage(base[0])}→2.000s")
    better = square(g, "engine26", "liverestore")
    assert better.lines == ("+ FAIL→PASS", "outage→survive", f"2.000s→{outage(cand[1])}")
    assert "! PASS→FAIL" in out and "+ FAIL→PASS" in out


def test_compare_grid_shows_a_cell_the_candidate_did_not_run_where_pair_puts_it():
    base = [doc("engine-liverestore", DATA / "run-a"), doc("engine-noliverestore", DATA / "run-a")]
    cand = [doc("engine26-liverestore")]
    g, _ = compared(base, cand, pair_map={"engine": "engine26"})
    assert g.platforms == ("engine26",)
    assert square(g, "engine26", "noliverestore").lines == ("! PASS→NOT RUN",)
    kept = square(g, "engine26", "liverestore")  # passed both times, but checks went unrun: marked
    assert kept.lines[0] == "! PASS" and kept.lines[1] == "survive"


def test_compare_grid_says_new_for_a_cell_only_in_the_candidate():
    g, _ = compared([doc("engine-liverestore")], [doc("engine-liverestore"), doc("engine26-liverestore")])
    assert square(g, "engine26", "liverestore").lines[0] == "~ PASS (new)"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_cli_compare_opens_with_the_grid(tmp_path, capsys, fmt):
    bad = failed(doc("engine-liverestore", DATA / "run-b"))
    (tmp_path / "engine-liverestore.json").write_text(json.dumps(bad))
    assert main(["compare", str(DATA / "run-a"), str(tmp_path), "--format", fmt]) == 1
    out = capsys.readouterr().out
    assert "! PASS→FAIL" in out and out.index("! PASS→FAIL") < out.index("the candidate did not pass")


def test_cli_report_markdown_opens_with_the_grid(capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).parent.parent)
    assert main(["report", str(ENGINES), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.index("| platform |") < out.index("| cell |")
    grid_rows = re.findall(r"^\| ([a-z0-9]+) \|", out, re.M)
    assert grid_rows == ["platform", *MATRIX.axes["platform"], "cell"]


def test_the_terminal_grid_is_coloured_only_when_asked_and_by_the_outcome():
    g, _ = report_grid([model(failed(doc("engine-liverestore"))), model(doc("engine-noliverestore"))])
    plain, colour = terminal.grid_text(g), terminal.grid_text(g, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[1;31mFAIL" in colour and "\x1b[32mPASS" in colour
    assert "\x1b[1;31mPASS" not in colour and "\x1b[32mFAIL" not in colour


def test_a_markdown_renderer_reads_the_grid_as_a_table_of_the_matrix():
    """markdown-it-py (rich's own Markdown parser) with GitHub's tables: the squares' line breaks
    survive, a not-run square is an empty cell, and the grid has a row per platform."""
    from markdown_it import MarkdownIt

    g, rows = report_grid([model(failed(doc("engine-liverestore")))])
    page = MarkdownIt("commonmark").enable("table").render(markdown.render(rows, grid=g))
    first = page[: page.index("</table>")]
    body = re.findall(r"<tr>\n<td>(.*?)</td>\n(.*?)</tr>", first, re.S)
    assert [platform for platform, _ in body] == list(MATRIX.axes["platform"])
    engine = re.findall(r"<td>(.*?)</td>", body[0][1])
    assert engine[:3] == ["FAIL<br>outage<br>2.000s", "", ""]  # noliverestore and crash: not run
    assert len(engine) == len(g.columns)
