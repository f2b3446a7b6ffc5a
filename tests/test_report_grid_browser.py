"""The HTML report's grid in a real headless Chromium: it opens the page, each square that ran
links to an anchor Chromium finds in the page it parsed, and squares without a result are empty.

The DOM checked is the one Chromium built (``--dump-dom``), not the string the renderer wrote,
so markup that a browser reads differently (an unclosed tag, a stray ``</td>``) fails here.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.matrix.cells import load_matrix
from test_report_browser import chromium  # skips this module too where Chromium is missing

pytestmark = pytest.mark.browser
DATA = Path(__file__).parent / "data"
ENGINES = DATA / "run-engines"
MATRIX = load_matrix(Path(__file__).parent.parent / "matrix")


class GridReader(HTMLParser):
    """The grid's squares (their class, ``data-cell``, link and text) and every ``id`` of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.order: list[str] = []  # the tables' classes, in page order
        self.squares: list[dict[str, str]] = []
        self.platforms: list[str] = []
        self._in_grid = False
        self._square: dict[str, str] | None = None
        self._row_head: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "table":
            self.order.append(a.get("class", ""))
            self._in_grid = a.get("class") == "grid"
        elif self._in_grid and tag == "td":
            self._square = {"class": a.get("class", ""), "cell": a.get("data-cell", "")}
            self._square.update(href="", text="")
        elif self._in_grid and tag == "th" and a.get("scope") == "row":
            self._row_head = []
        elif self._square is not None and tag == "a":
            self._square["href"] = a.get("href", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_grid = False
        elif tag == "td" and self._square is not None:
            self.squares.append(self._square)
            self._square = None
        elif tag == "th" and self._row_head is not None:
            self.platforms.append("".join(self._row_head).strip())
            self._row_head = None

    def handle_data(self, data: str) -> None:
        if self._square is not None:
            self._square["text"] += data
        if self._row_head is not None:
            self._row_head.append(data)


@pytest.fixture(scope="module")
def dom(tmp_path_factory: pytest.TempPathFactory) -> GridReader:
    folder = tmp_path_factory.mktemp("grid")
    out = folder / "report.html"
    cwd = Path.cwd()
    os.chdir(Path(__file__).parent.parent)  # the matrix: its cells without a result are squares too
    try:
        assert main(["report", str(ENGINES), "--format", "html", "--output", str(out)]) == 0
    finally:
        os.chdir(cwd)
    proc = chromium(folder / "profile", "--dump-dom", out.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    reader = GridReader()
    reader.feed(proc.stdout)
    return reader


def test_the_grid_opens_the_page_with_a_row_per_platform(dom):
    assert dom.order[:2] == ["grid", "matrix"]  # the flat table follows the grid
    assert dom.platforms == list(MATRIX.axes["platform"])


def test_every_square_that_ran_links_to_its_cells_details(dom):
    ran = sorted(p.stem for p in ENGINES.glob("*.json"))
    linked = [s for s in dom.squares if s["href"]]
    assert sorted(s["cell"] for s in linked) == ran
    for s in linked:
        assert s["href"] == f"#cell-{s['cell']}"
        assert dom.ids.count(s["href"][1:]) == 1  # the anchor is in the page Chromium built, once
        assert s["text"].startswith(("PASS", "FAIL")) and s["class"] in ("pass", "fail")


def test_squares_without_a_result_are_empty(dom):
    ran = {p.stem for p in ENGINES.glob("*.json")}
    empty = [s for s in dom.squares if s["class"] == "not-run"]
    # a scenario cell has a square only once it has a result (docs/scenarios.md has their table)
    placed = [c for c in MATRIX.cells if c.scenario is None or c.name in ran]
    assert sorted(s["cell"] for s in empty) == sorted({c.name for c in placed} - ran)
    assert all(s["text"].strip() == "" and not s["href"] for s in empty)
    assert len(dom.squares) == len(dom.platforms) * len({(c.variant, c.extras) for c in placed})
