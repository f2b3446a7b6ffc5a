"""Pass or fail of a cell run: decided by ``lrmatrix.results.outcome`` and nowhere else.

Each case is tested both ways (the change that fails a run, and the run that passes without
it), on a real result; then the run's exit code, the report and compare are shown to ask
the same function, and a scan of the source shows no other module deciding it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lrmatrix.errors import INTERRUPTED
from lrmatrix.report import compare
from lrmatrix.report.rows import row_from_result
from lrmatrix.results import files as results
from lrmatrix.results.model import Check, Result, Verdict
from lrmatrix.results.outcome import outcome
from lrmatrix.run.session import CellRun

DATA = Path(__file__).parent / "data"
SRC = Path(__file__).parent.parent / "src" / "lrmatrix"


def real(cell: str = "engine-liverestore-noproxy", run: str = "run-c") -> Result:
    """A real run that passed, with a path verdict (loopback must survive without docker-proxy)."""
    return results.load(DATA / run / f"{cell}.json")


def test_a_real_run_that_met_every_expectation_passes():
    r = real()
    assert r.path_verdicts  # the cell states a path expectation too
    decided = outcome(r)
    assert (decided.passed, decided.observed, decided.reasons, decided.exit_code) == (True, "survive", (), 0)


def test_a_verdict_other_than_expected_fails():
    r = real()
    r.verdict.observed, r.verdict.reason = "outage", "40/100 requests failed while down"
    decided = outcome(r)
    assert not decided.passed and decided.exit_code == 1 and decided.observed == "outage"
    assert decided.reasons == ("expected survive, observed outage: 40/100 requests failed while down",)


def test_the_written_passed_flag_is_not_what_decides():
    """The file's ``passed`` is what outcome said when it was written; outcome asks again."""
    r = real()
    r.verdict.passed = False
    assert outcome(r).passed
    r.verdict.observed, r.verdict.passed = "outage", True
    assert not outcome(r).passed


def test_a_failed_node_check_fails_the_run():
    r = real()
    check = r.checks[0]
    check.passed, check.detail = False, "AssertionError: lrm-web-1 restarted"
    decided = outcome(r)
    assert not decided.passed and decided.exit_code == 1
    assert decided.failed_checks == (f"{check.phase}/{check.id}",)
    assert f"failed check {check.phase}/{check.id}: AssertionError: lrm-web-1 restarted" in decided.reasons


def test_a_failed_teardown_fails_the_run():
    r = real()
    assert outcome(r).passed
    r.checks.append(Check(id="node_left_clean", phase="teardown", passed=False, detail="veth lrm1h left"))
    decided = outcome(r)
    assert not decided.passed and decided.failed_checks == ("teardown/node_left_clean",)


def test_a_failed_path_verdict_fails_the_run_though_the_node_path_passed():
    r = real()
    r.path_verdicts["loopback"] = Verdict(
        expected="survive", observed="outage", passed=True, reason="8/10 failed"
    )
    decided = outcome(r)
    assert not decided.passed and decided.observed == "survive" and decided.exit_code == 1
    assert decided.reasons == ("loopback: expected survive, observed outage (8/10 failed)",)


def test_an_interrupted_run_is_its_own_exit_code():
    r = real()
    why = "interrupted by SIGTERM in the outage phase, while the daemon was stopped"
    r.verdict = Verdict(expected="survive", observed="interrupted", passed=False, reason=why)
    r.path_verdicts = {p: Verdict(expected="survive", observed="interrupted", passed=False, reason=why)
                       for p in r.path_verdicts}  # fmt: skip
    r.error = why
    decided = outcome(r)
    assert (decided.passed, decided.exit_code, decided.reasons) == (False, INTERRUPTED, (why,))


def test_an_error_after_setup_fails_and_one_before_it_could_not_run():
    r = real()
    r.verdict.observed, r.verdict.reason = "error", "the daemon did not come back: no API"
    r.error = "entering recover: the daemon did not come back"
    assert outcome(r).exit_code == 1 and f"stopped: {r.error}" in outcome(r).reasons
    r.phases = [p for p in r.phases if p.name == "teardown"]  # the node was never set up
    r.error = "dockerd did not start: its log says ..."
    assert outcome(r).exit_code == 2 and not outcome(r).passed


def test_a_run_whose_disruption_was_deselected_did_not_pass():
    """``-k 'not verdict'`` or only the baseline's checks: the verdict still decides."""
    r = real()
    r.verdict.observed, r.verdict.reason = "error", "the daemon was never stopped and started again"
    assert not outcome(r).passed and outcome(r).exit_code == 1


def test_a_result_in_a_fallback_place_exits_2_and_a_failed_one_keeps_its_1():
    r = real()
    where = "results/engine-liverestore-noproxy.json: No space left on device"
    decided = outcome(r, elsewhere=where)
    assert decided.passed and decided.exit_code == 2 and where in decided.reasons[0]
    r.verdict.observed = "outage"
    assert outcome(r, elsewhere=where).exit_code == 1


# --- who asks it --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "change", "code"),
    [
        (0, None, 0),
        (1, None, 1),  # a test that is no node check failed: pytest's own 1 stands
        (0, "verdict", 1),  # the verdict's test deselected: outcome still says 1
        (2, "setup", 2),  # pytest.exit(2) after a setup error
        (1, "interrupt", INTERRUPTED),
        (0, "fallback", 2),
    ],
)
def test_the_runs_exit_code_is_the_outcomes(status, change, code):
    r = real()
    written = results.Written(Path("/results/x.json"))
    if change in ("verdict", "setup"):
        r.verdict.observed = "error"
    if change == "setup":
        r.error, r.phases = "node: dockerd did not start", []
    if change == "interrupt":
        r.verdict.observed, r.error = "interrupted", "interrupted by SIGINT"
    if change == "fallback":
        written = results.Written(Path("/var/tmp/x/y.json"), "results/x.json: No space left on device")
    run = CellRun(runner=None, results_dir=Path("results"), result=r, written=written)  # type: ignore[arg-type]
    assert run.exit_code(status) == code


def test_report_and_compare_ask_the_same_function():
    r = real()
    r.path_verdicts["loopback"].observed = "outage"  # only a path verdict fails
    assert not row_from_result(r).passed
    (pair,) = compare.compare([real()], [r]).pairs
    assert pair.regression and any("the candidate did not pass" in c.what for c in pair.changes)
    assert any("loopback: expected survive, observed outage" in c.what for c in pair.changes)


#: a cell's pass or fail, decided: expected set against observed, or a verdict's ``passed`` read
DECIDING = [
    re.compile(r"\bexpected\b\s*[!=]=\s*[\w.\[\]\"']*\bobserved\b"),
    re.compile(r"\bobserved\b\s*[!=]=\s*[\w.\[\]\"']*\bexpected\b"),
    re.compile(r"\b(v|verdict|verdicts|path_verdicts\S*)\.passed\b"),
    re.compile(r"""\[["']passed["']\]|get\(["']passed["']"""),
]


def test_pass_or_fail_is_decided_in_one_module():
    """No module but results/outcome.py compares expected with observed or reads a verdict's
    ``passed`` (a node check's ``passed`` is pytest's fact, not a decision)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "results" / "outcome.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(SRC)}:{n}: {line.strip()}" for p in DECIDING if p.search(line)]
    assert found == []
    outcome_src = (SRC / "results" / "outcome.py").read_text()
    assert DECIDING[0].search(outcome_src)  # the scan finds the one place it looks for


@pytest.mark.parametrize(
    ("module", "asks"),
    [
        ("report/rows.py", "outcome"),
        ("report/compare.py", "outcome"),
        ("run/session.py", "outcome"),
        ("infra_tests/test_5_verdict.py", "verdict_failure"),
        ("infra_tests/test_5_verdict.py", "path_failures"),
        ("results/build.py", "met"),
    ],
)
def test_every_place_that_says_pass_or_fail_asks_outcome(module, asks):
    tree = ast.parse((SRC / module).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "lrmatrix.results.outcome"
        for alias in node.names
    }
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert asks in imported and asks in called


@pytest.mark.parametrize(
    "line",
    [
        "return self.expected == self.observed",  # evidence/verdict.py before
        'passed=bool(verdict.get("passed"))',  # report/rows.py before
        'and all(v.get("passed") for v in (result.get("path_verdicts") or {}).values()),',
        "misbehaved = disrupted and any(not v.passed for v in runner.verdicts().all)",  # session
        'if v.get("passed") and not failed:',  # report/compare.py before
        'assert v.passed, f"expected {v.expected}, observed {v.observed}: {v.reason}"',  # the check
    ],
)
def test_the_scan_finds_each_place_that_decided_before(line):
    assert any(p.search(line) for p in DECIDING)
