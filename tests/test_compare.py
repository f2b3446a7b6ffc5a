"""``lrmatrix compare``: two real runs of the engine matrix, and variants derived from them.

Each detection is tested both ways: the change that must gate (exit 1) and the one that
must not (exit 0), so neither a blind nor a trigger-happy comparison passes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.report.compare import (
    DEFAULT_TOLERANCE_MS,
    DEFAULT_TOLERANCE_PCT,
    MEASURED_SPREAD,
    Tolerance,
    compare,
    tolerance_from_spread,
)
from lrmatrix.results import files as results

DATA = Path(__file__).parent / "data"
CELLS = ("engine-liverestore", "engine-noliverestore")
RUN_A, RUN_B = DATA / "run-a", DATA / "run-b"
#: the open-model probe's runs, the pair furthest apart of three per cell (2026-12-02)
RUN_OPEN_A, RUN_OPEN_B = DATA / "run-open-a", DATA / "run-open-b"


def real(run: Path, cell: str) -> dict:
    """The file as written, to derive a changed one from (compare reads the files)."""
    return results.read_json(run / f"{cell}.json")


def derive(folder: Path, run: Path = RUN_B, **edits) -> Path:
    """A copy of ``run`` with ``edits[cell](result)`` applied: one changed cell per test."""
    folder.mkdir(parents=True, exist_ok=True)
    for cell in CELLS:
        result = copy.deepcopy(real(run, cell))
        edit = edits.get(cell.replace("-", "_"))
        if edit is not None:
            edit(result)
        if result is not None and result.get("cell"):
            (folder / f"{result['cell']}.json").write_text(json.dumps(result))
    return folder


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["compare", *map(str, argv)])
    return code, capsys.readouterr().out


def flip_to_outage(r: dict) -> None:
    r["verdict"].update(observed="outage", passed=False, reason="40/100 requests failed while down")
    r["probes"]["node"].update(failed_while_down=40, longest_outage_ms=2000.0)


def test_two_runs_of_the_same_matrix_are_the_same(capsys):
    code, out = run(capsys, RUN_A, RUN_B)
    assert code == 0, out
    assert "engine-liverestore: same behaviour" in out
    assert "engine-noliverestore: same behaviour" in out
    assert "0 of 2 pair(s) regressed" in out


def test_real_run_to_run_jitter_is_below_the_default_tolerance(capsys):
    """Two real runs of the same matrix with the open-model probe (of the first three measured,
    the pair furthest apart): the whole outage moved by 182 ms and the blip by 1.4 ms, inside
    the tolerance the measured spread sets."""
    for cell in CELLS:
        base = results.load(RUN_OPEN_B / f"{cell}.json").probes["node"]
        cand = results.load(RUN_OPEN_A / f"{cell}.json").probes["node"]
        grew = abs(cand.longest_outage_ms - base.longest_outage_ms)
        assert grew <= Tolerance().allowed_ms(base.longest_outage_ms, 50)
    assert Tolerance().allowed_ms(250, 50) == 700 and Tolerance().allowed_ms(7400, 50) == 740
    assert Tolerance().allowed_ms(200, 500) == 1000  # two intervals: each edge known to one
    code, out = run(capsys, RUN_OPEN_B, RUN_OPEN_A)
    assert code == 0 and "0 of 2 pair(s) regressed" in out, out


def test_the_default_tolerance_is_the_measured_spread_by_its_rule():
    """The rule: largest spread rounded up to 50 ms, largest relative spread of a whole outage up
    to 5 %; the spread of the runs kept here is inside it, and a spread twice as wide moves it."""
    assert (
        tolerance_from_spread(MEASURED_SPREAD) == (DEFAULT_TOLERANCE_MS, DEFAULT_TOLERANCE_PCT) == (700, 10)
    )
    kept = {}
    for cell in CELLS:
        nodes = [results.load(run / f"{cell}.json").probes["node"] for run in (RUN_OPEN_A, RUN_OPEN_B)]
        outages = sorted(n.longest_outage_ms for n in nodes)
        kept[cell] = (2, outages[0], outages[1])
    floor, pct = tolerance_from_spread(kept)
    assert floor <= DEFAULT_TOLERANCE_MS and pct <= DEFAULT_TOLERANCE_PCT
    wider = {k: (n, lo, lo + 2 * (hi - lo)) for k, (n, lo, hi) in MEASURED_SPREAD.items()}
    assert tolerance_from_spread(wider) == (1400, 20)


def test_verdict_flip_survive_to_outage_is_a_regression(tmp_path, capsys):
    cand = derive(tmp_path / "cand", engine_liverestore=flip_to_outage)
    code, out = run(capsys, RUN_A, cand)
    assert code == 1
    assert "engine-liverestore: REGRESSION" in out
    assert "! verdict changed: observed survive -> outage" in out
    assert "engine-noliverestore: same behaviour" in out


def test_verdict_flip_outage_to_survive_is_a_regression_too(tmp_path, capsys):
    def survive(r: dict) -> None:
        r["verdict"].update(observed="survive", passed=False)

    code, out = run(capsys, RUN_A, derive(tmp_path / "cand", engine_noliverestore=survive))
    assert code == 1
    assert "! verdict changed: observed outage -> survive (expected outage" in out


def test_verdict_flip_back_to_the_expectation_is_an_improvement(tmp_path, capsys):
    base = derive(tmp_path / "base", engine_liverestore=flip_to_outage)
    code, out = run(capsys, base, RUN_B)
    assert code == 0, out
    assert "+ verdict changed: observed outage -> survive" in out
    assert "engine-liverestore: changed" in out


@pytest.mark.parametrize(
    ("cell", "delta_ms", "code", "allowed"),
    [
        # the 200 ms post-restart blip: the 700 ms floor decides (10 % would be 20 ms)
        ("engine_liverestore", 650, 0, 700),
        ("engine_liverestore", 750, 1, 700),
        # the 6.1 s outage without live-restore: 10 % of it is 615 ms, the floor still decides
        ("engine_noliverestore", 650, 0, 700),
        ("engine_noliverestore", 750, 1, 700),
        ("engine_noliverestore", -750, 0, 700),
    ],
)
def test_node_outage_growth_is_relative_to_the_baseline_with_a_floor(
    tmp_path, capsys, cell, delta_ms, code, allowed
):
    def longer(r: dict) -> None:
        r["probes"]["node"]["longest_outage_ms"] += delta_ms

    got, out = run(capsys, RUN_B, derive(tmp_path / "cand", **{cell: longer}))
    assert got == code, out
    if code:
        assert "! node path longest outage grew" in out and f"tolerance {allowed} ms" in out
    elif delta_ms < 0:
        assert "+ node path longest outage shrank" in out
    else:
        assert "longest outage" not in out and "same behaviour" in out


@pytest.mark.parametrize(("delta_ms", "known", "code"), [(1800, 1200, 0), (2000, 1200, 1), (1800, 0, 1)])
def test_known_growth_widens_one_cells_outage_tolerance(tmp_path, capsys, delta_ms, known, code):
    """26.1 without live-restore starts about 1 s slower (docs/engines.md): ``--known-growth``
    accepts that for the cell it names and says so; past it, the outage still gates."""

    def longer(r: dict) -> None:
        r["probes"]["node"]["longest_outage_ms"] += delta_ms

    cand = derive(tmp_path / "cand", engine_noliverestore=longer)
    argv = ["--known-growth", f"engine-noliverestore={known}"] if known else []
    got, out = run(capsys, RUN_B, cand, *argv)
    assert got == code, out
    if known:
        assert f"engine-noliverestore known growth +{known} ms" in out.splitlines()[-1]
    if code and known:
        assert f"(+{delta_ms} ms, tolerance {700 + known} ms incl. {known} ms known growth)" in out
    if known:
        got, out = run(capsys, RUN_B, cand, *argv, "--format", "json")
        assert got == code and json.loads(out)["known_growth_ms"] == {"engine-noliverestore": known}


def test_known_growth_excuses_neither_other_cells_nor_a_shrink_or_recovery(tmp_path, capsys):
    def longer(r: dict) -> None:
        r["probes"]["node"]["longest_outage_ms"] += 1500

    def shorter(r: dict) -> None:
        r["probes"]["node"]["longest_outage_ms"] -= 1500

    def slower_back(r: dict) -> None:
        r["probes"]["node"]["recovery_s"] = 1.5

    # the named cell is the no-live-restore one; the live-restore cell's growth still gates
    cand = derive(tmp_path / "other", engine_liverestore=longer)
    assert run(capsys, RUN_B, cand, "--known-growth", "engine-noliverestore=5000")[0] == 1
    # a shrink is measured against the plain tolerance: still an improvement
    code, out = run(
        capsys,
        RUN_B,
        derive(tmp_path / "less", engine_noliverestore=shorter),
        "--known-growth",
        "engine-noliverestore=5000",
    )
    assert code == 0 and "+ node path longest outage shrank" in out, out
    # recovery after the API answered is not what a slower start lengthens
    code, out = run(
        capsys,
        RUN_OPEN_B,
        derive(tmp_path / "back", RUN_OPEN_B, engine_noliverestore=slower_back),
        "--known-growth",
        "engine-noliverestore=5000",
    )
    assert code == 1 and "! node path recovery grew" in out, out


def test_failed_while_down_growth_is_a_regression(tmp_path, capsys):
    def fails(r: dict) -> None:
        r["probes"]["node"]["failed_while_down"] = 30  # 30 x 50 ms: 1500 ms of failed requests

    code, out = run(capsys, RUN_A, derive(tmp_path / "cand", engine_liverestore=fails))
    assert code == 1
    assert "! node path failed while down grew: 0/100 -> 30/100 requests" in out


@pytest.mark.parametrize(("share", "code"), [(0.3, 0), (0.6, 1)])
def test_failed_while_down_is_the_failing_time_in_open_model_results(tmp_path, capsys, share, code):
    """The open-model probe asks each container every tick: twice the failed requests for the
    same failing time is no growth (requests x interval would say +1.5 s); the failed share of
    the down time is what gates."""

    def open_model(failed: int, sent: int, share: float):
        def edit(r: dict) -> None:
            r["probes"]["node"].update(
                failed_while_down=failed, sent_while_down=sent, down_failed_share=share
            )

        return edit

    base = derive(tmp_path / "base", RUN_A, engine_liverestore=open_model(30, 100, 0.3))
    cand = derive(tmp_path / "cand", RUN_A, engine_liverestore=open_model(int(share * 200), 200, share))
    got, out = run(capsys, base, cand)
    assert got == code, out
    if code:
        assert "! node path failed while down grew: 30/100 -> 120/200 requests" in out
    else:
        assert "failed while down" not in out


def test_other_paths_are_reported_but_do_not_gate(tmp_path, capsys):
    def loopback_ok(r: dict) -> None:
        r["probes"]["loopback"].update(failed_while_down=0, longest_outage_ms=0.0)

    code, out = run(capsys, RUN_A, derive(tmp_path / "cand", engine_liverestore=loopback_ok))
    assert code == 0
    assert "~ loopback path longest outage shrank" in out


def test_checks_newly_failing_and_newly_passing(tmp_path, capsys):
    def break_check(r: dict) -> None:
        next(c for c in r["checks"] if c["id"] == "test_same_containers_back")["passed"] = False

    broken = derive(tmp_path / "broken", engine_liverestore=break_check)
    code, out = run(capsys, RUN_A, broken)
    assert code == 1 and "! newly failing: after/test_same_containers_back" in out
    code, out = run(capsys, broken, RUN_A)
    assert code == 0 and "+ newly passing: after/test_same_containers_back" in out
    code, out = run(capsys, broken, broken)  # failing as before still fails the candidate
    assert code == 1 and "the candidate did not pass" in out and "after/test_same_containers_back" in out


def test_version_changes_are_listed_not_gated(tmp_path, capsys):
    def upgrade(r: dict) -> None:
        r["versions"]["docker"] = "24.0.5"

    code, out = run(capsys, RUN_A, derive(tmp_path / "cand", engine_liverestore=upgrade))
    assert code == 0
    assert "~ docker 20.10.24+dfsg1 -> 24.0.5" in out
    assert "engine-liverestore: same behaviour" in out


def test_cells_on_one_side_only_are_reported(tmp_path, capsys):
    def drop(r: dict) -> None:
        r["cell"] = None  # derive() skips it: the candidate never ran this cell

    def extra(r: dict) -> None:
        r["cell"] = "engine-liverestore-noproxy"

    missing = derive(tmp_path / "missing", engine_noliverestore=drop)
    code, out = run(capsys, RUN_A, missing)
    assert code == 1
    assert "engine-noliverestore: only in baseline (REGRESSION)" in out and "not run in the candidate" in out
    more = derive(tmp_path / "more", engine_noliverestore=extra)
    code, out = run(capsys, RUN_A, more)
    assert "engine-liverestore-noproxy: only in candidate" in out
    assert "engine-noliverestore: only in baseline" in out  # renamed away: still never dropped
    assert code == 1


def as_platform(platform: str):
    def edit(r: dict) -> None:
        r["cell"] = r["cell"].replace("engine", platform)
        r["platform"] = platform

    return edit


def test_pair_maps_platforms(tmp_path, capsys):
    k128 = derive(tmp_path / "k128", RUN_A, engine_liverestore=as_platform("k8s128"),
                  engine_noliverestore=as_platform("k8s128"))  # fmt: skip
    k130 = derive(tmp_path / "k130", RUN_B, engine_liverestore=as_platform("k8s130"),
                  engine_noliverestore=as_platform("k8s130"))  # fmt: skip
    code, out = run(capsys, k128, k130)
    assert code == 1 and "hint: cells on one side only; pair platforms with --pair" in out
    code, out = run(capsys, k128, k130, "--pair", "k8s128=k8s130")
    assert code == 0, out
    assert "k8s128-liverestore -> k8s130-liverestore: same behaviour" in out


def test_formats(tmp_path, capsys):
    cand = derive(tmp_path / "cand", engine_liverestore=flip_to_outage)
    code, out = run(capsys, RUN_A, cand, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["schema"] == "lrmatrix.report.compare/1" and data["regression"] is True
    statuses = {p["candidate"]: p["status"] for p in data["pairs"]}
    assert statuses == {"engine-liverestore": "regression", "engine-noliverestore": "same behaviour"}
    code, out = run(capsys, RUN_A, cand, "--format", "markdown")
    assert code == 1
    assert "| engine-liverestore | **regression** | ! the candidate did not pass" in out
    assert "! verdict changed: observed survive -&gt; outage" in out or "! verdict changed" in out


def test_compare_data_is_usable_without_the_cli():
    base = results.load_many([RUN_A])
    cmp = compare(base, results.load_many([RUN_B]))
    assert not cmp.regression and [p.status for p in cmp.pairs] == ["same behaviour"] * 2


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--pair", "k8s128"], "BASELINE_PLATFORM=CANDIDATE_PLATFORM"),
        (["--pair", "k8s999=k8s130"], "no baseline result has platform k8s999"),
        (["--tolerance-ms", "-5"], "--tolerance-ms must be a finite number >= 0"),
        (["--tolerance-ms", "nan"], "--tolerance-ms must be a finite number >= 0"),
        (["--tolerance-ms", "inf"], "--tolerance-ms must be a finite number >= 0"),
        (["--tolerance-pct", "nan"], "--tolerance-pct must be a finite number >= 0"),
        (["--coverage-drop", "2"], "--coverage-drop must be a finite number >= 0 and <= 1"),
        (["--allow-failing", "engine-nope"], "--allow-failing engine-nope: the candidate has no result"),
        (["--known-growth", "engine-noliverestore"], "use CANDIDATE_CELL=MILLISECONDS"),
        (["--known-growth", "engine-noliverestore=-5"], "use CANDIDATE_CELL=MILLISECONDS"),
        (["--known-growth", "engine-noliverestore=inf"], "use CANDIDATE_CELL=MILLISECONDS"),
        (["--known-growth", "=5"], "use CANDIDATE_CELL=MILLISECONDS"),
        (
            ["--known-growth", "engine28-noliverestore=5"],
            "--known-growth engine28-noliverestore: the candidate has no result",
        ),
        (
            ["--known-growth", "engine-noliverestore=5", "--known-growth", "engine-noliverestore=9"],
            "cell 'engine-noliverestore' is given twice",
        ),
    ],
)
def test_bad_arguments_exit_2(capsys, extra, words):
    assert main(["compare", str(RUN_A), str(RUN_B), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrmatrix: ") and words in err and len(err.strip().splitlines()) == 1


def test_bad_result_files_exit_2(tmp_path, capsys):
    dup = tmp_path / "dup"
    derive(dup, RUN_A)
    (dup / "again.json").write_text((RUN_B / "engine-liverestore.json").read_text())
    assert main(["compare", str(dup), str(RUN_B)]) == 2
    assert "two results for cell engine-liverestore" in capsys.readouterr().err
    assert main(["compare", str(dup), str(RUN_B), "--newest"]) == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(real(RUN_A, "engine-liverestore"), schema="lrmatrix.result/3")))
    assert main(["compare", str(other), str(RUN_B)]) == 2
    assert "schema 'lrmatrix.result/3'" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(RUN_B)]) == 2
    assert "no result files in the baseline" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", '"120"', "true"])
@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_an_unreadable_outage_never_compares_as_the_same(tmp_path, capsys, value, side):
    """NaN compared as "same behaviour", exit 0: every comparison with NaN is false, so nothing
    grew. Refused while reading, naming the file and the key; exit 2 from either side."""
    folder = derive(tmp_path / "odd", RUN_A)
    path = folder / "engine-liverestore.json"
    text = path.read_text()
    path.write_text(text.replace('"longest_outage_ms": 200.4', f'"longest_outage_ms": {value}', 1))
    assert path.read_text() != text
    argv = (
        ["compare", str(folder), str(RUN_B)] if side == "baseline" else ["compare", str(RUN_B), str(folder)]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lrmatrix: {path}: probes.node.longest_outage_ms"), err
    assert main(["compare", str(RUN_A), str(RUN_B)]) == 0  # the same files, readable: the same


# --- the gate: a candidate that fails, a check that vanished, coverage and recovery -----------
def fail_like_the_baseline(r: dict) -> None:
    flip_to_outage(r)


def test_a_candidate_failing_like_its_baseline_still_gates(tmp_path, capsys):
    base = derive(tmp_path / "base", engine_liverestore=fail_like_the_baseline)
    cand = derive(tmp_path / "cand", engine_liverestore=fail_like_the_baseline)
    code, out = run(capsys, base, cand)
    assert code == 1, out
    assert "! the candidate did not pass: observed outage, expected survive" in out
    assert "engine-noliverestore: same behaviour" in out


def test_allow_failing_names_a_cell_known_to_fail(tmp_path, capsys):
    cand = derive(tmp_path / "cand", engine_liverestore=fail_like_the_baseline)
    code, out = run(capsys, RUN_A, cand, "--allow-failing", "engine-liverestore")
    assert code == 0, out
    assert "~ the candidate did not pass" in out and "(allowed: --allow-failing)" in out
    # the other cell is not excused by it
    both = derive(
        tmp_path / "both", engine_liverestore=fail_like_the_baseline, engine_noliverestore=flip_survive
    )
    assert run(capsys, RUN_A, both, "--allow-failing", "engine-liverestore")[0] == 1


def flip_survive(r: dict) -> None:
    r["verdict"].update(observed="survive", passed=False)


def test_an_interrupted_candidate_gates(tmp_path, capsys):
    def interrupted(r: dict) -> None:
        r["verdict"].update(
            observed="interrupted", passed=False, reason="interrupted by SIGTERM in the outage phase"
        )

    code, out = run(capsys, RUN_A, derive(tmp_path / "cand", engine_noliverestore=interrupted))
    assert code == 1 and "observed interrupted, expected outage (interrupted by SIGTERM" in out


CHECK = "test_same_containers_back"


def test_a_check_the_candidate_skipped_or_never_ran_gates(tmp_path, capsys):
    def skipped(r: dict) -> None:
        check = next(c for c in r["checks"] if c["id"] == CHECK)
        r["checks"].remove(check)
        r["skipped_checks"] = [{"id": CHECK, "phase": check["phase"], "detail": "no containers"}]

    def missing(r: dict) -> None:
        r["checks"] = [c for c in r["checks"] if c["id"] != CHECK]

    code, out = run(capsys, RUN_A, derive(tmp_path / "skipped", engine_liverestore=skipped))
    assert code == 1 and f"! skipped in the candidate: after/{CHECK} (no containers)" in out
    code, out = run(capsys, RUN_A, derive(tmp_path / "missing", engine_liverestore=missing))
    assert code == 1 and f"! not run in the candidate: after/{CHECK}" in out
    # the other way round a check that appears is no regression
    code, out = run(capsys, derive(tmp_path / "fewer", engine_liverestore=missing), RUN_A)
    assert code == 0, out


RUN_D, RUN_E = DATA / "run-d", DATA / "run-e"  # real runs with coverage, recovery, skipped checks


def test_two_real_runs_with_coverage_and_recovery_are_the_same(capsys):
    code, out = run(capsys, RUN_D, RUN_E)
    assert code == 0, out
    assert "0 of 2 pair(s) regressed" in out


def one_container_coverage(ratio: float):
    def edit(r: dict) -> None:
        target = sorted(r["probes"]["node"]["coverage"]["targets"])[0]
        r["probes"]["node"]["coverage"]["targets"][target]["ratio"] = ratio

    return edit


@pytest.mark.parametrize(("ratio", "code"), [(0.97, 0), (0.90, 1), (0.50, 1)])
def test_node_coverage_falling_past_the_tolerance_gates(tmp_path, capsys, ratio, code):
    """Real coverage (99.5-100 % per container) against one container the probe watched less."""
    got, out = run(
        capsys, RUN_D, derive(tmp_path / "c", RUN_E, engine_liverestore=one_container_coverage(ratio))
    )
    assert got == code, out
    if code:
        assert f"! node path probe coverage fell: 99% -> {ratio:.0%} (tolerance 5%)" in out
    # the other way round it is an improvement, never a regression
    back, out = run(
        capsys, derive(tmp_path / "b", RUN_E, engine_liverestore=one_container_coverage(ratio)), RUN_D
    )
    assert back == 0, out


def test_results_without_coverage_compare_as_before(tmp_path, capsys):
    """Results written before coverage existed (run-a, run-b) are compared without it."""
    assert run(capsys, RUN_A, RUN_B)[0] == 0


def with_recovery(seconds):
    def edit(r: dict) -> None:
        r["probes"]["node"]["recovery_s"] = seconds

    return edit


@pytest.mark.parametrize(
    ("base", "cand", "code", "words"),
    [
        (0.5, 0.7, 0, ""),
        (0.5, 1.3, 1, "! node path recovery grew: 500 ms -> 1300 ms after the API answered"),
        (0.5, None, 1, "! node path never answered again after the restart (baseline: 500 ms)"),
        (1.0, 0.1, 0, "+ node path recovery shrank"),
    ],
)
def test_node_recovery_getting_worse_past_the_tolerance_gates(tmp_path, capsys, base, cand, code, words):
    got, out = run(
        capsys,
        derive(tmp_path / "b", RUN_D, engine_noliverestore=with_recovery(base)),
        derive(tmp_path / "c", RUN_E, engine_noliverestore=with_recovery(cand)),
    )
    assert got == code, out
    assert words in out
