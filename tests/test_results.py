"""Result files: what a reader can trust after load, and the one-line errors when it can't."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lrmatrix import results
from lrmatrix.cli import main
from lrmatrix.errors import BadInput

RUN_A = Path(__file__).parent / "data" / "run-a"
GOOD = json.loads((RUN_A / "engine-liverestore.json").read_text())


def write(folder: Path, data: object, name: str = "engine-liverestore.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def broken(**changes):
    data = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    return data


def test_real_result_loads():
    assert results.load(RUN_A / "engine-liverestore.json")["cell"] == "engine-liverestore"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cell": 5}, "is not a cell name"),
        ({"verdict": "x"}, "verdict must be an object"),
        ({"verdict__passed": "yes"}, "verdict.passed must be true or false"),
        ({"checks": [{"id": 1}]}, "checks must be a list"),
        ({"probes__node": {}}, "probes.node lacks sent"),
        ({"versions": []}, "versions must be an object"),
        ({"phases": {}}, "phases must be a list"),
    ],
)
def test_wrong_nested_shapes_are_one_line_bad_input(tmp_path, changes, message):
    path = write(tmp_path, broken(**changes))
    with pytest.raises(BadInput, match=message):
        results.load(path)


@pytest.mark.parametrize("command", ["report", "compare"])
def test_cli_exits_2_on_a_malformed_result_not_with_a_traceback(tmp_path, capsys, command):
    bad = write(tmp_path / "bad", broken(probes__node={}))
    argv = [command, str(bad)] + ([str(RUN_A)] if command == "compare" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "probes.node lacks" in err[0]


def test_other_lrmatrix_documents_in_a_results_folder_are_skipped(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, {"schema": "lrmatrix.ssh-changes/1", "cell": "engine-liverestore"}, "x.changes.json")
    write(tmp_path, {"schema": "lrmatrix.compare/1"}, "compare.json")
    assert [r["cell"] for r in results.load_many([tmp_path])] == ["engine-liverestore"]


def test_foreign_json_in_a_folder_is_still_an_error(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, {"schema": "lrmatrix.result/0"}, "old.json")
    with pytest.raises(BadInput, match=r"is not 'lrmatrix\.result/1'"):
        results.load_many([tmp_path])


def test_the_same_folder_twice_is_read_once(tmp_path):
    write(tmp_path, GOOD)
    assert len(results.load_many([tmp_path, tmp_path, tmp_path / "engine-liverestore.json"])) == 1


def test_report_output_that_cannot_be_written_is_bad_input(capsys):
    assert main(["report", str(RUN_A), "--output", "/proc/nope/report.md"]) == 2
    assert "cannot write /proc/nope/report.md" in capsys.readouterr().err
