"""Result files: what a reader can trust after load, and the one-line errors when it can't."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.drivers.base import UnitMessage
from lrmatrix.errors import BadInput
from lrmatrix.evidence.other_containers import OtherContainer, OtherContainers
from lrmatrix.evidence.upgrade import Step, UpgradeRun
from lrmatrix.evidence.watchers import ProcessTimeline
from lrmatrix.results import build, model
from lrmatrix.results import files as results

RUN_A = Path(__file__).parent / "data" / "run-a"
#: a /1 file as written (report and compare read it through results/v1.py)
GOOD = json.loads((RUN_A / "engine-liverestore.json").read_text())
#: the same run as a /2 result
RESULT = results.load(RUN_A / "engine-liverestore.json")


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
    assert RESULT.cell == "engine-liverestore" and RESULT.schema_ == "lrmatrix.result/2"


def test_a_key_the_model_does_not_name_is_refused_in_a_v2_file_and_dropped_from_a_v1_file(tmp_path):
    """A /2 file holds exactly what this lrmatrix writes; a /1 file may hold a key an older
    writer had (read without it)."""
    v2 = RESULT.document()
    v2["verdict"]["verdict"] = "extra"
    with pytest.raises(BadInput, match=r": verdict\.verdict is not a key of a result; not a result"):
        results.load(write(tmp_path / "v2", v2))
    old = broken(verdict__verdict="extra")
    assert results.load(write(tmp_path / "v1", old)).verdict == RESULT.verdict


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cell": 5}, "cell 5 is not a cell name"),
        ({"verdict": "x"}, 'verdict = "x" is not allowed (should be an object)'),
        (
            {"verdict__passed": "yes"},
            'verdict.passed = "yes" is not allowed (input should be a valid boolean)',
        ),
        ({"checks": [{"id": 1}]}, "checks[0].id = 1 is not allowed"),
        ({"probes__node": {}}, "probes.node.sent is missing"),
        ({"versions": []}, "versions = [] is not allowed (should be an object)"),
        ({"phases": {}}, "phases = {} is not allowed (should be a list)"),
        # each key a reader uses, with a type it cannot use
        ({"probes__node__longest_outage_ms": "12"}, 'probes.node.longest_outage_ms = "12" is not allowed'),
        ({"probes__node__failed_while_down": 1.5}, "probes.node.failed_while_down = 1.5 is not allowed"),
        ({"probes__node__sent": True}, "probes.node.sent = true is not allowed"),
        ({"probes__node__windows": [[1.0]]}, "probes.node.windows[0][1] is missing"),
        ({"probes__node__windows": [[1.0, "x"]]}, 'probes.node.windows[0][1] = "x" is not allowed'),
        ({"probes__node__samples": [[0.1, 1]]}, "probes.node.samples[0][2] is missing"),
        ({"probes__node__samples": [[0.1, True, 2.0]]}, "probes.node.samples[0][1] = true is not allowed"),
        ({"probes__node__coverage": {"ratio": "high"}}, "probes.node.coverage.ratio"),
        ({"probes__node__recovery_s": "fast"}, "probes.node.recovery_s"),
        ({"live_restore__effective": "on"}, "live_restore.effective"),
        ({"containers__before": [{"name": 3}]}, "containers.before[0].name = 3"),
        ({"timings_configured__probe_interval_s": 0}, "timings_configured.probe_interval_s = 0"),
        ({"findings": [{"a": 1}]}, "findings[0]"),
        ({"started_at": 1}, "started_at = 1"),
        ({"events": [{"name": "x", "t": "late"}]}, "events[0].t"),
        (
            {"path_verdicts": {"loopback": {"expected": "x", "observed": "x", "passed": 1, "reason": ""}}},
            "path_verdicts.loopback.passed = 1",
        ),
        ({"log_pressure": {"web": {"stalled_at_s": "soon"}}}, "log_pressure.web.bytes_per_s is missing"),
        ({"disruption": {"stop_at": "x"}}, 'disruption.stop_at = "x" is not allowed'),
    ],
)
def test_wrong_nested_shapes_are_one_line_bad_input(tmp_path, changes, message):
    path = write(tmp_path, broken(**changes))
    with pytest.raises(BadInput) as refused:
        results.load(path)
    assert str(refused.value).startswith(f"{path}: {message}")
    assert str(refused.value).endswith("; not a result this lrmatrix wrote")


@pytest.mark.parametrize("command", ["report", "compare"])
def test_cli_exits_2_on_a_malformed_result_not_with_a_traceback(tmp_path, capsys, command):
    bad = write(tmp_path / "bad", broken(probes__node={}))
    argv = [command, str(bad)] + ([str(RUN_A)] if command == "compare" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "probes.node.sent is missing" in err[0]


NON_FINITE = [
    ('"longest_outage_ms": 200.4', '"longest_outage_ms": NaN', "probes.node.longest_outage_ms is NaN"),
    (
        '"longest_outage_ms": 200.4',
        '"longest_outage_ms": Infinity',
        "probes.node.longest_outage_ms is Infinity",
    ),
    (
        '"longest_outage_ms": 200.4',
        '"longest_outage_ms": -Infinity',
        "probes.node.longest_outage_ms is -Infinity",
    ),
    ('"longest_outage_ms": 200.4', '"longest_outage_ms": 1e999', "probes.node.longest_outage_ms is 1e999"),
    ('"mean_ms": 50.001', '"mean_ms": NaN', "probes.node.interval.mean_ms is NaN"),  # a key no reader uses
]


@pytest.mark.parametrize(
    ("old", "new", "says"), NON_FINITE, ids=["nan", "inf", "-inf", "1e999", "unread-key"]
)
def test_nan_and_infinity_are_refused_while_parsing_naming_the_key(tmp_path, old, new, says):
    text = (RUN_A / "engine-liverestore.json").read_text()
    assert old in text
    path = tmp_path / "engine-liverestore.json"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(BadInput, match=rf"^{path}: {says}, not a finite number"):
        results.load(path)


def test_a_number_with_5000_digits_is_one_line_not_a_value_error(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"sent": ' + "1" * 5000 + "}")
    with pytest.raises(BadInput, match="not JSON or truncated"):
        results.load(path)


# --- reading only regular files, bounded -------------------------------------------------------
def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(BadInput, match="a character device, not a regular file"):
        results.load(link)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="a FIFO, not a regular file"):
        results.load(fifo)  # pytest's own timeout is the run's: this returns at once or hangs


def test_a_file_over_the_size_limit_is_refused_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "MAX_BYTES", 1000)
    path = write(tmp_path, GOOD)
    with pytest.raises(BadInput, match="larger than"):
        results.load(path)
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"schema": "x"}))
    with pytest.raises(BadInput, match="schema 'x'"):  # under the limit: read, then judged
        results.load(small)


# --- writing: the result first, then a fallback place, never a traceback --------------------
@pytest.fixture
def fallbacks(tmp_path, monkeypatch):
    """Fallback bases of this test's own (XDG_STATE_HOME unset)."""
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    bases = (tmp_path / "fb1", tmp_path / "fb2")
    monkeypatch.setattr(results, "FALLBACK_BASES", bases)
    return bases


def test_a_result_goes_to_the_results_folder_when_it_can(tmp_path, fallbacks):
    written = results.write_somewhere(RESULT, tmp_path / "results")
    assert written.path == tmp_path / "results" / "engine-liverestore.json" and not written.problem
    assert written.line() == f"result: {written.path}"
    assert not fallbacks[0].exists()


def test_a_folder_in_the_way_sends_the_result_to_the_fallback_and_says_why(tmp_path, fallbacks):
    folder = tmp_path / "results"
    (folder / "engine-liverestore.json").mkdir(parents=True)
    written = results.write_somewhere(RESULT, folder)
    assert written.path is not None and written.path.parent.parent == fallbacks[0]
    assert written.path.name == "engine-liverestore.json"
    assert results.load(written.path) == RESULT  # whole, and readable
    assert "Is a directory" in written.problem and str(folder / "engine-liverestore.json") in written.problem
    line = written.line()
    assert line.startswith(f"result: {written.path} (the results folder could not take it: ")
    assert "\n" not in line
    assert sorted(p.name for p in folder.iterdir()) == ["engine-liverestore.json"]  # no .partial left


def test_xdg_state_home_is_the_first_fallback(tmp_path, fallbacks, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "a-file").write_text("x")
    written = results.write_somewhere(RESULT, tmp_path / "a-file")
    assert written.path is not None and written.path.is_relative_to(
        tmp_path / "state" / "lrmatrix" / "results"
    )


def test_a_fallback_base_that_is_a_link_is_not_followed(tmp_path, fallbacks):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fallbacks[0].symlink_to(elsewhere)
    (tmp_path / "a-file").write_text("x")
    written = results.write_somewhere(RESULT, tmp_path / "a-file")
    assert written.path is not None and written.path.parent.parent == fallbacks[1]
    assert not any(elsewhere.iterdir())


def test_nowhere_to_write_is_one_line_naming_every_place_tried(tmp_path, fallbacks):
    (tmp_path / "a-file").write_text("x")
    for base in fallbacks:
        base.write_text("in the way")
    written = results.write_somewhere(RESULT, tmp_path / "a-file")
    assert written.path is None
    line = written.line()
    assert line.startswith("result: NOT WRITTEN: ") and "\n" not in line
    assert all(str(base) in line for base in fallbacks)


def test_a_folder_named_like_the_result_is_refused_before_the_run(tmp_path):
    (tmp_path / "engine-liverestore.json").mkdir()
    with pytest.raises(BadInput, match=r"engine-liverestore\.json is a folder; remove it"):
        results.check_target(tmp_path, "engine-liverestore")
    results.check_target(tmp_path, "engine-noliverestore")


def test_other_lrmatrix_documents_in_a_results_folder_are_skipped(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, {"schema": "lrmatrix.ssh-changes/1", "cell": "engine-liverestore"}, "x.changes.json")
    write(tmp_path, {"schema": "lrmatrix.report.compare/1"}, "compare.json")
    assert [r.cell for r in results.load_many([tmp_path])] == ["engine-liverestore"]


def test_foreign_json_in_a_folder_is_still_an_error(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, {"schema": "lrmatrix.result/0"}, "old.json")
    with pytest.raises(BadInput, match=r"is not 'lrmatrix\.result/2' \(or 'lrmatrix\.result/1'\)"):
        results.load_many([tmp_path])


def test_the_same_folder_twice_is_read_once(tmp_path):
    write(tmp_path, GOOD)
    assert len(results.load_many([tmp_path, tmp_path, tmp_path / "engine-liverestore.json"])) == 1


def test_report_output_that_cannot_be_written_is_bad_input(capsys):
    assert main(["report", str(RUN_A), "--output", "/proc/nope/report.md"]) == 2
    assert "cannot write /proc/nope/report.md" in capsys.readouterr().err


# --- the model against what each part of the evidence writes ------------------------------------
def test_the_model_reads_what_the_evidence_writes_for_ssh_nodes_and_upgrades():
    """Parts no stored result has (an ssh node's own containers, a package upgrade), made by
    the code that writes them: a key one adds and the model lacks fails here."""
    mine = OtherContainer("a" * 64, "own", "running", 101, "2026-01-01T00:00:00Z", "always")
    others = OtherContainers((mine,), live_restore=False, error="")
    others.after = others.final = (mine,)
    others.started = {"own": ""}
    assert model.OtherContainers.model_validate_json(json.dumps(others.as_dict())).before[0].pid == 101
    timeline = ProcessTimeline(node=None)  # type: ignore[arg-type]
    timeline.samples = [
        (10.0, {"dockerd": [5], "containerd": [6]}),
        (11.0, {"dockerd": [7], "containerd": [6]}),
    ]
    step = Step(
        "apt-get install -y docker.io", 10.0, 12.5, 0, "done", [UnitMessage(11.0, 1e9 + 11, "Stopped docker")]
    )
    run = UpgradeRun(timeline, [step], ["docker.io_26.1.5.deb"])
    upgrade = model.Upgrade.model_validate_json(json.dumps(run.as_dict(t0=9.0, wall0=1e9)))
    assert upgrade.timeline.processes["dockerd"] == [(5, 1.0, 1.0), (7, 2.0, 2.0)]
    assert upgrade.steps[0].units == [(11.0, "Stopped docker")]


def test_the_writer_refuses_nan_naming_the_key(tmp_path, monkeypatch):
    """A NaN from the harness's own arithmetic is a bug said in one line, never a file that
    report and compare then refuse."""
    doc = RESULT.document()
    doc["probes"]["node"]["cpu_s"] = float("nan")
    monkeypatch.setattr(build, "document", lambda *_: doc)
    cell = type("Cell", (), {"name": "engine-liverestore"})
    with pytest.raises(ValueError, match=r"engine-liverestore .*: probes\.node\.cpu_s = NaN is not allowed"):
        build.build(cell, None, None, None, None)  # type: ignore[arg-type]
    broken_after = RESULT.model_copy(deep=True)
    broken_after.probes["node"].cpu_s = float("inf")  # set past validation: the file is still refused
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        results.write(broken_after, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_a_result_that_does_not_fit_the_model_is_kept_unchecked_and_said(tmp_path, monkeypatch):
    """A harness bug (a key the model does not know) must not cost a disrupted node's
    evidence: the raw result is written as <cell>.unchecked.json and the run exits 2."""
    from contract import dryrun
    from lrmatrix.matrix.cells import load_matrix
    from lrmatrix.results import build
    from lrmatrix.run.session import CellRun

    _, run = dryrun.drive(load_matrix().cell("k8s128-liverestore"))
    real = build.document
    monkeypatch.setattr(build, "document", lambda *a: {**real(*a), "not_in_the_model": 1})
    run.status.finished = False  # finish once more, as the session does
    monkeypatch.setattr(run, "finish", lambda: True)
    cell_run = CellRun(run, tmp_path)
    cell_run.finish()
    assert cell_run.result is None and "not_in_the_model" in cell_run.unchecked
    kept = tmp_path / "k8s128-liverestore.unchecked.json"
    assert json.loads(kept.read_text())["not_in_the_model"] == 1
    assert not (tmp_path / "k8s128-liverestore.json").exists()
    assert cell_run.exit_code(0) == 2
    assert "unchecked" in cell_run.summary_lines()[1][0]
