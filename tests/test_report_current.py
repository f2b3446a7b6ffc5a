"""Every report format renders results in the format this lrmatrix writes today.

tests/data/run-c holds real results of the four engine cells from the current code; older
fixtures (run-a, run-b) keep compare's tests stable. A change to the result format that a
renderer does not follow fails here, not in a user's CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.results import files as results

RUN_C = Path(__file__).parent / "data" / "run-c"
CELLS = sorted(p.stem for p in RUN_C.glob("*.json"))


def test_fixtures_are_in_the_current_format():
    assert len(CELLS) == 4
    for cell in CELLS:
        data = results.load(RUN_C / f"{cell}.json")
        assert all(len(s) == 4 for p in data["probes"].values() for s in p["samples"])
        assert "disruption" in data and data["disruption"]["change_at"] is not None


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "html"])
def test_every_format_renders_the_current_results(tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    assert main(["report", str(RUN_C), "--no-matrix", "--format", fmt, "--output", str(out)]) == 0
    text = out.read_text()
    for cell in CELLS:
        assert cell in text
    if fmt == "html":
        assert text.count("<svg") >= len(CELLS)


def test_a_failed_path_verdict_makes_the_row_fail(tmp_path):
    data = json.loads((RUN_C / "engine-liverestore-noproxy.json").read_text())
    data["path_verdicts"]["loopback"]["passed"] = False
    (tmp_path / "engine-liverestore-noproxy.json").write_text(json.dumps(data))
    assert main(["report", str(tmp_path), "--no-matrix"]) == 1
    assert main(["report", str(tmp_path), "--no-matrix", "--exit-zero"]) == 0
