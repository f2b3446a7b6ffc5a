"""Every report format renders results in the format this lrmatrix writes today, and the ones
it wrote before.

tests/data/run-f holds real results of four engine cells written by the current code
(``lrmatrix.result/2``); run-a ... run-e and run-engines are ``lrmatrix.result/1`` files of
each shape /1 had. A change to the result format that a renderer or the /1 reader does not
follow fails here, not in a user's CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.results import files as results

DATA = Path(__file__).parent / "data"
RUN_F = DATA / "run-f"
CELLS = sorted(p.stem for p in RUN_F.glob("*.json"))
EVERY_RUN = sorted(p.name for p in DATA.glob("run-*"))


def test_fixtures_are_in_the_current_format():
    assert len(CELLS) == 4
    for cell in CELLS:
        text = (RUN_F / f"{cell}.json").read_text()
        assert json.loads(text)["schema"] == "lrmatrix.result/2"
        result = results.load(RUN_F / f"{cell}.json")
        assert result.disruption.change_at is not None and result.disruption.daemon_watch is not None
        assert all(p.coverage is not None and p.recovery_s is not None for p in result.probes.values())


@pytest.mark.parametrize("cell", CELLS)
def test_a_file_a_real_build_wrote_round_trips_byte_for_byte(tmp_path, cell):
    """Read into the model and written again, a result is the file the run wrote: the model
    names every key the writer writes, and loses none."""
    original = RUN_F / f"{cell}.json"
    result = results.load(original)
    assert result.document() == json.loads(original.read_text())
    assert results.write(result, tmp_path).read_text() == original.read_text()
    assert results.load(tmp_path / original.name) == result


@pytest.mark.parametrize("run", EVERY_RUN)
def test_every_stored_result_loads_in_report_and_compare(run, capsys):
    """Users keep old results: each shape of /1 loads, renders and compares."""
    loaded = results.load_many([DATA / run])
    assert loaded and all(r.schema_ == "lrmatrix.result/2" for r in loaded)
    assert main(["report", str(DATA / run), "--no-matrix", "--format", "html", "--output", "/dev/null"]) == 0
    assert main(["compare", str(DATA / run), str(DATA / run)]) == 0
    assert "0 of" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "html"])
@pytest.mark.parametrize("run", [RUN_F, DATA / "run-c"], ids=["v2", "v1"])
def test_every_format_renders_the_current_and_the_older_results(tmp_path, fmt, run):
    out = tmp_path / f"report.{fmt}"
    assert main(["report", str(run), "--no-matrix", "--format", fmt, "--output", str(out)]) == 0
    text = out.read_text()
    for cell in sorted(p.stem for p in run.glob("*.json")):
        assert cell in text
    if fmt == "html":
        assert text.count("<svg") >= len(CELLS) and text.count('class="down"') >= len(CELLS)


def test_a_v1_result_and_a_v2_result_of_the_same_run_compare_as_the_same(tmp_path, capsys):
    """The /1 reader keeps the numbers: a /2 result written back as /1 compares equal to itself."""
    for cell in CELLS:
        data = json.loads((RUN_F / f"{cell}.json").read_text())
        (tmp_path / f"{cell}.json").write_text(json.dumps({**data, "schema": "lrmatrix.result/1"}))
    assert main(["compare", str(RUN_F), str(tmp_path)]) == 0
    assert "0 of 4 pair(s) regressed" in capsys.readouterr().out
    assert results.load_many([tmp_path]) == results.load_many([RUN_F])


def test_a_failed_path_verdict_makes_the_row_fail(tmp_path):
    data = json.loads((RUN_F / "engine-liverestore-noproxy.json").read_text())
    data["path_verdicts"]["loopback"]["observed"] = "outage"
    (tmp_path / "engine-liverestore-noproxy.json").write_text(json.dumps(data))
    assert main(["report", str(tmp_path), "--no-matrix"]) == 1
    assert main(["report", str(tmp_path), "--no-matrix", "--exit-zero"]) == 0
    assert main(["report", str(RUN_F), "--no-matrix"]) == 0
