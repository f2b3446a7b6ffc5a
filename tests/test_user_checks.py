"""The user's own checks: collected beside the matrix, given a phase, and in the result, the
report, compare and the outcome, both ways (a passing and a failing one)."""

from __future__ import annotations

import copy
import html
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.options import INFRA_TESTS
from lrmatrix.report import html as report_html
from lrmatrix.report import markdown, terminal
from lrmatrix.report.rows import build_rows
from lrmatrix.results import files as results
from lrmatrix.results.outcome import outcome
from lrmatrix.run import user_checks
from lrmatrix.run.sequence import PHASES

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "tests" / "data" / "run-open-a"  # lrmatrix.result/2, as written by a real run
CELL = "engine-liverestore"


def with_user_check(passed: bool, *, skipped: bool = False) -> dict:
    data = copy.deepcopy(results.read_json(RUN / f"{CELL}.json"))
    check = {"id": "test_mine", "phase": "after", "source": "infra_tests/test_mine.py"}
    if skipped:
        data["skipped_checks"] = [*(data.get("skipped_checks") or []), {**check, "detail": "not here"}]
    else:
        data["checks"].append({**check, "passed": passed, "detail": "" if passed else "assert 1 == 0"})
    return data


def write(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{data['cell']}.json").write_text(json.dumps(data))
    return folder


def test_the_folder_beside_the_matrix_is_found_and_never_the_packages_own(tmp_path):
    (tmp_path / "matrix").mkdir()
    assert user_checks.folder_beside(tmp_path / "matrix") is None
    (tmp_path / "infra_tests").mkdir()
    assert user_checks.folder_beside(tmp_path / "matrix") == tmp_path / "infra_tests"
    assert user_checks.folder_beside(INFRA_TESTS.parent / "matrix") is None


def test_the_folder_is_added_once(tmp_path):
    folder = tmp_path / "infra_tests"
    folder.mkdir()
    args = ["lrmatrix.infra_tests", "more_checks/"]
    assert user_checks.with_folder(args, folder, tmp_path) == [*args, str(folder)]
    assert user_checks.with_folder(["infra_tests"], folder, tmp_path) == ["infra_tests"]
    assert user_checks.with_folder(["infra_tests/test_x.py::t"], folder, tmp_path) == [
        "infra_tests/test_x.py::t"
    ]
    assert user_checks.with_folder([str(tmp_path)], folder, tmp_path) == [str(tmp_path)]


def test_the_default_phase_line_names_the_phase_and_every_phase():
    line = user_checks.default_phase_line(["a.py::t1", "a.py::t2"])
    assert line.startswith(f"2 checks without a phase marker run in the {user_checks.DEFAULT_PHASE} phase")
    assert ", ".join(PHASES) in line
    assert user_checks.DEFAULT_PHASE in PHASES


def test_a_user_check_is_in_the_result_with_its_file():
    result = results.validate(with_user_check(True), Path(f"{CELL}.json"))
    mine = [c for c in result.checks if c.source]
    assert [(c.id, c.phase, c.source, c.passed) for c in mine] == [
        ("test_mine", "after", "infra_tests/test_mine.py", True)
    ]
    assert all(c.source is None for c in result.checks if c.id != "test_mine")


@pytest.mark.parametrize("passed", [True, False])
def test_a_failing_user_check_fails_the_cell_and_a_passing_one_does_not(passed):
    decided = outcome(results.validate(with_user_check(passed), Path(f"{CELL}.json")))
    assert decided.passed is passed
    assert (decided.exit_code == 0) is passed
    label = "after/test_mine (user check, infra_tests/test_mine.py)"
    assert (label in decided.failed_checks) is not passed


@pytest.mark.parametrize(("passed", "said"), [(True, "passed"), (False, "failed: assert 1 == 0")])
def test_every_report_shows_the_user_check_both_ways(passed, said):
    rows = build_rows([results.validate(with_user_check(passed), Path(f"{CELL}.json"))], [(CELL, "survive")])
    line = f"user check after/test_mine (infra_tests/test_mine.py): {said}"
    text = terminal.render(rows)
    assert line in text
    assert markdown.md(line) in markdown.render(rows)
    assert html.escape(line) in report_html.render(rows, [])
    assert "failed check after/test_mine" not in text  # said once, as a user check


def test_a_skipped_user_check_is_in_the_report():
    rows = build_rows([results.validate(with_user_check(True, skipped=True), Path(f"{CELL}.json"))], [])
    assert "user check after/test_mine (infra_tests/test_mine.py): skipped: not here" in rows[0].user_checks


def test_compare_gates_on_a_user_check_that_passed_and_now_fails(tmp_path, capsys):
    base = write(tmp_path / "base", with_user_check(True))
    assert main(["compare", str(base), str(write(tmp_path / "same", with_user_check(True)))]) == 0
    assert main(["compare", str(base), str(write(tmp_path / "cand", with_user_check(False)))]) == 1
    out = capsys.readouterr().out
    assert "newly failing: after/test_mine (user check, infra_tests/test_mine.py)" in out


def test_a_result_without_sources_still_reads():
    """Results written before user checks had a file (/2 without the key, /1) read as built-ins."""
    result = results.load(RUN / f"{CELL}.json")
    assert result.checks and all(c.source is None for c in result.checks)


def collect(tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``pytest --collect-only --cell`` on the installed checks in a user's repository: the
    plugin's collection, nothing started on a node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")} | extra_env
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "--pyargs", "lrmatrix.infra_tests"]
    argv += ["--cell", CELL, "--results-dir", str(tmp_path / "results"), "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_the_plugin_collects_the_users_folder_and_says_where_unmarked_checks_run(tmp_path):
    assert main(["init", str(tmp_path)]) == 0
    (tmp_path / "infra_tests" / "test_mine.py").write_text("def test_unmarked(host):\n    pass\n")
    more = tmp_path / "more_checks"
    more.mkdir()
    (more / "test_more.py").write_text(
        "import pytest\n\n@pytest.mark.phase('outage')\ndef test_more():\n    pass\n"
    )
    res = collect(tmp_path, "more_checks")
    out = res.stdout + res.stderr
    assert "infra_tests/test_mine.py::test_unmarked" in out, out
    assert "infra_tests/test_example.py::test_the_verdict_is_the_expected_one" in out
    assert "more_checks/test_more.py::test_more" in out
    assert "test_1_baseline.py::test_daemon_json_exists_and_parses" in out  # with the built-in ones
    assert out.count("test_mine.py::test_unmarked") == 2  # the list, and the one line below
    line = next(ln for ln in out.splitlines() if "without a phase marker" in ln)
    said = "lrmatrix: 1 check without a phase marker runs in the after phase"
    assert line.startswith(f"{said} (infra_tests/test_mine.py::test_unmarked);")
    assert not (tmp_path / "results" / f"{CELL}.json").exists()  # nothing ran


def test_the_built_in_checks_are_added_unless_named(tmp_path):
    assert user_checks.with_builtins(["."], tmp_path) == [str(INFRA_TESTS), "."]
    for named in (
        "lrmatrix.infra_tests",
        "lrmatrix.infra_tests.test_1_baseline",
        str(INFRA_TESTS / "test_1_baseline.py"),
    ):
        assert user_checks.with_builtins([named], tmp_path) == [named]


def test_a_plain_pytest_cell_in_a_users_repository_runs_both(tmp_path):
    assert main(["init", str(tmp_path)]) == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")}
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "--cell", CELL, "-p", "no:cacheprovider"]
    res = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "test_1_baseline.py::test_daemon_json_exists_and_parses" in res.stdout, res.stdout + res.stderr
    assert res.stdout.count("test_example.py::test_the_daemon_is_back") == 1


@pytest.mark.parametrize("passed", [True, False])
def test_the_cells_summary_names_a_failing_user_check(tmp_path, monkeypatch, passed):
    """pytest's lrmatrix section says why a cell whose probes were fine failed."""
    from contract import dryrun
    from lrmatrix.matrix.cells import load_matrix
    from lrmatrix.run.session import CellRun

    _, run = dryrun.drive(load_matrix(ROOT / "matrix").cell("k8s128-liverestore"))
    run.record("after", "test_mine", passed, "" if passed else "assert 1 == 0", "infra_tests/test_mine.py")
    run.status.finished = False  # finish once more, as the session does
    monkeypatch.setattr(run, "finish", lambda: True)
    cell_run = CellRun(run, tmp_path)
    cell_run.finish()
    said = [line for line, _ in cell_run.summary_lines()]
    line = "failed check after/test_mine (user check, infra_tests/test_mine.py)"
    assert (line in said) is not passed, said
    assert cell_run.result is not None
    mine = [c for c in cell_run.result.checks if c.source]
    assert [(c.id, c.passed) for c in mine] == [("test_mine", passed)]


def test_lrmatrix_matrix_brings_the_checks_beside_it(tmp_path):
    mine = tmp_path / "elsewhere"
    assert main(["init", str(mine)]) == 0
    (tmp_path / "cwd").mkdir()
    res = collect(tmp_path / "cwd", LRMATRIX_MATRIX=str(mine / "matrix"))
    assert "test_example.py::test_the_daemon_is_back" in res.stdout, res.stdout + res.stderr
    assert "test_example.py" not in collect(tmp_path / "cwd").stdout  # the packaged matrix: none
