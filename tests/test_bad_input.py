"""Bad input, as a table: each case exits 2 with exactly one line on stderr saying what is
wrong and what to do, no traceback, and (for a cell run) nothing changed on this machine.

Cases come from issue 7's table and the README's exit-2 list. Matrix and command-line cases
run in-process or as a plain pytest subprocess (no root needed: the matrix and the results
folder are checked before the driver's sanity checks). Cases that get past the sanity checks
(state folder, read-only mounts, a second run of one cell) need root and a real engine node's
tools, so they are marked ``integration``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix import preflight
from lrmatrix.cli import cell_argv, main

MATRIX = (ROOT / "matrix" / "matrix.toml").read_text()
RESULT = Path(__file__).parent / "data" / "run-a" / "engine-liverestore.json"

#: (case id, text in matrix.toml, replaced by, words the one line must contain), as data
MATRIX_CASES = [
    (c["id"], c["old"], c["new"], c["words"])
    for c in tomllib.loads((Path(__file__).parent / "data" / "bad_matrix_cases.toml").read_text())["case"]
]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert "Traceback" not in err
    return lines[0]


def write_matrix(folder: Path, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "matrix.toml"
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


@pytest.mark.parametrize(
    ("old", "new", "words"), [c[1:] for c in MATRIX_CASES], ids=[c[0] for c in MATRIX_CASES]
)
def test_bad_matrix_exits_2_with_one_line(tmp_path, monkeypatch, capsys, old, new, words):
    assert old in MATRIX, f"the repository's matrix no longer has {old!r}"
    folder = write_matrix(tmp_path / "m", MATRIX.replace(old, new, 1))
    monkeypatch.setenv("LRMATRIX_MATRIX", str(folder))
    assert main(["cells"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"lrmatrix: {folder / 'matrix.toml'}"), line
    assert words in line


def test_matrix_not_utf8_exits_2(tmp_path, monkeypatch, capsys):
    folder = write_matrix(tmp_path / "m", MATRIX.encode().replace(b"lrmatrix", b"lrm\xe4trix", 1))
    monkeypatch.setenv("LRMATRIX_MATRIX", str(folder))
    assert main(["cells"]) == 2
    assert "cannot read the matrix" in one_line(capsys.readouterr().err)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Files a user might pass by mistake, by name."""
    made = {
        "binary": (tmp_path / "image.json", bytes(range(256)) * 4),
        "latin1": (
            tmp_path / "latin1.json",
            '{"schema": "lrmatrix.result/1", "cell": "caf\xe9"}'.encode("latin-1"),
        ),
        "truncated": (tmp_path / "cut.json", RESULT.read_bytes()[:500]),
        "other_schema": (tmp_path / "v2.json", json.dumps({"schema": "lrmatrix.result/2"}).encode()),
        "not_object": (tmp_path / "list.json", b"[1, 2, 3]"),
        "bad_cell": (
            tmp_path / "cell.json",
            RESULT.read_bytes().replace(b'"cell": "engine-liverestore"', b'"cell": "x"'),
        ),
        "deep": (tmp_path / "deep.json", b"[" * 100000 + b"]" * 100000),
        "a_file": (tmp_path / "a-file", b"x"),
        "copy": (tmp_path / "copy.json", RESULT.read_bytes()),
    }
    for path, data in made.values():
        path.write_bytes(data)
    (tmp_path / "empty").mkdir()
    found = {name: str(path) for name, (path, _) in made.items()}
    return {**found, "empty": str(tmp_path / "empty"), "good": str(RESULT), "missing": str(tmp_path / "nope")}


# (case id, lrmatrix argv with {file} names from ``files``, words the one line must contain)
CLI_CASES = [
    ("compare-binary-baseline", ["compare", "{binary}", "{good}"], "not UTF-8 text"),
    ("compare-binary-candidate", ["compare", "{good}", "{binary}"], "not UTF-8 text"),
    ("compare-latin1", ["compare", "{latin1}", "{good}"], "not UTF-8 text"),
    ("report-binary", ["report", "{binary}"], "not UTF-8 text"),
    ("report-latin1", ["report", "{latin1}"], "not UTF-8 text"),
    ("report-truncated", ["report", "{truncated}"], "not JSON or truncated"),
    ("compare-truncated", ["compare", "{truncated}", "{good}"], "not JSON or truncated"),
    ("report-nested-too-deep", ["report", "{deep}"], "nested too deep"),
    ("report-other-schema", ["report", "{other_schema}"], "is not 'lrmatrix.result/1'"),
    ("report-not-an-object", ["report", "{not_object}"], "not a result object"),
    ("report-not-a-cell", ["report", "{bad_cell}"], "is not a cell name"),
    ("report-missing", ["report", "{missing}"], "no such file or folder"),
    ("report-empty-folder", ["report", "{empty}"], "no result files"),
    (
        "report-output-under-a-file",
        ["report", "{good}", "--output", "{a_file}/r.md"],
        "choose another --output",
    ),
    ("compare-empty-candidate", ["compare", "{good}", "{empty}"], "no result files in the candidate"),
    (
        "report-two-results-for-one-cell",
        ["report", "{good}", "{copy}"],
        "two results for cell engine-liverestore",
    ),
    ("compare-tolerance-nan", ["compare", "{good}", "{good}", "--tolerance-ms", "nan"], "--tolerance-ms"),
    (
        "compare-tolerance-negative",
        ["compare", "{good}", "{good}", "--tolerance-pct", "-1"],
        "--tolerance-pct",
    ),
    ("compare-coverage-over-1", ["compare", "{good}", "{good}", "--coverage-drop", "1.5"], "--coverage-drop"),
    ("compare-pair-syntax", ["compare", "{good}", "{good}", "--pair", "k8s128"], "BASELINE_PLATFORM"),
    (
        "compare-allow-failing-unknown",
        ["compare", "{good}", "{good}", "--allow-failing", "engine-x"],
        "the candidate has no result for that cell",
    ),
    ("run-unknown-cell", ["run", "engine-nope"], "unknown cell 'engine-nope'; valid cells:"),
    (
        "run-results-dir-is-a-file",
        ["run", "engine-liverestore", "--results-dir", "{a_file}"],
        "is a file, not a folder; pass a folder you can write to",
    ),
    (
        "run-results-dir-under-a-file",
        ["run", "engine-liverestore", "--results-dir", "{a_file}/r"],
        "is a file, not a folder",
    ),
    ("plan-unknown-cell", ["plan", "k8s999-liverestore"], "unknown cell 'k8s999-liverestore'"),
    (
        "recover-node-needs-allow-disruption",
        ["recover", "--node", "ssh://root@198.18.250.2"],
        "pass --allow-disruption",
    ),
    (
        "recover-node-not-ssh",
        ["recover", "--node", "engine://", "--allow-disruption"],
        "takes an ssh:// node",
    ),
]


@pytest.mark.parametrize(("argv", "words"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_exits_2_with_one_line(files, monkeypatch, capsys, argv, words):
    monkeypatch.setenv("LRMATRIX_MATRIX", str(ROOT / "matrix"))
    assert main([a.format(**files) for a in argv]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("lrmatrix: ") and words in line, line


# --- a cell run (pytest --cell): refused before the driver's sanity checks, no root needed --
def run_cell(cell: str, results: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    argv = cell_argv(cell, results, "-q", *extra)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd="/")


@pytest.fixture
def cell_env() -> Iterator[dict[str, str]]:
    """A state folder of this test's own, so 'nothing changed' can be checked exactly; short,
    as containerd's socket paths must fit in 108 bytes, and open to all for the not-root case."""
    folder = Path(tempfile.mkdtemp(prefix="lrmb-", dir="/tmp"))
    folder.chmod(0o777)
    yield {**os.environ, "LRMATRIX_STATE_DIR": str(folder / "s"), "LRMATRIX_MATRIX": str(ROOT / "matrix")}
    shutil.rmtree(folder, ignore_errors=True)


def assert_nothing_changed(env: dict[str, str]) -> None:
    """No state folder, no slot claimed for it (the slot record names its state folder), no
    process of it: robust against other runs making their own nodes at the same time."""
    state = Path(env["LRMATRIX_STATE_DIR"])
    assert not state.exists(), f"a refused run made {state}"
    slots = Path("/run/lrmatrix/slots")
    for record in slots.glob("*.json") if slots.is_dir() else []:
        with contextlib.suppress(OSError):
            assert str(state) not in record.read_text(), f"a refused run claimed {record}"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                assert str(state).encode() not in (entry / "cmdline").read_bytes()


@pytest.mark.parametrize(
    ("edit", "cell", "words"),
    [
        (('stop_signal = "SIGKILL"', 'stop_signl = "SIGKILL"'), "engine-liverestore-crash", "did you mean"),
        (("outage_window_s = 5.0 ", "outage_window_s = nan "), "engine-liverestore", "outage_window_s = nan"),
        (("[timings]", "[timing]"), "engine-liverestore", "unknown table [timing]"),
        (None, "engine-nope", "unknown cell 'engine-nope'"),
    ],
    ids=["typo", "nan", "timing-table", "unknown-cell"],
)
def test_cell_run_refuses_a_bad_matrix_before_anything(tmp_path, cell_env, edit, cell, words):
    if edit is not None:
        cell_env["LRMATRIX_MATRIX"] = str(write_matrix(tmp_path / "m", MATRIX.replace(*edit, 1)))
    res = run_cell(cell, tmp_path / "results", cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert words in one_line(res.stderr)
    assert not (tmp_path / "results").exists()
    assert_nothing_changed(cell_env)


@pytest.mark.parametrize("node", [(), ("--node", "engine://")], ids=["default", "engine"])
def test_a_package_upgrade_cell_refuses_any_node_but_ssh(tmp_path, cell_env, node):
    """Its commands need the node's own package manager: never the harness's engine node."""
    res = run_cell("engine-liverestore-pkgupgrade26", tmp_path / "results", cell_env, *node)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "name a node of yours with --node ssh://user@host --allow-disruption" in one_line(res.stderr)
    assert not (tmp_path / "results").exists()
    assert_nothing_changed(cell_env)


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_cell_run_refuses_a_results_dir_that_is_a_file(tmp_path, cell_env, where):
    (tmp_path / "a-file").write_text("x")
    res = run_cell("engine-liverestore", tmp_path / where, cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "is a file, not a folder; pass a folder you can write to" in one_line(res.stderr)
    assert (tmp_path / "a-file").read_text() == "x"
    assert_nothing_changed(cell_env)


def test_result_lock_refuses_a_second_holder_and_is_gone_after(tmp_path):
    first = preflight.ResultLock(tmp_path, "engine-liverestore").acquire()
    with pytest.raises(preflight.BadInput, match=rf"another run of engine-liverestore \(pid {os.getpid()}\)"):
        preflight.ResultLock(tmp_path, "engine-liverestore").acquire()
    other_cell = preflight.ResultLock(tmp_path, "engine-noliverestore").acquire()  # tox -p: fine
    first.release()
    other_cell.release()
    assert list(tmp_path.iterdir()) == []
    preflight.ResultLock(tmp_path, "engine-liverestore").acquire().release()


# --- past the sanity checks: root and the engine driver's tools ------------------------------
needs_engine = pytest.mark.skipif(engine_ready() is not None, reason=str(engine_ready()))


@contextlib.contextmanager
def read_only_mount(folder: Path) -> Iterator[Path]:
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "lrmt-ro", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.integration
@needs_engine
@pytest.mark.parametrize("where", ["file", "below-a-file", "read-only", "too-long"])
def test_cell_run_refuses_a_state_dir_it_cannot_use(tmp_path, cell_env, where):
    (tmp_path / "a-file").write_text("x")
    state = {
        "file": tmp_path / "a-file",
        "below-a-file": tmp_path / "a-file" / "nodes",
        "read-only": tmp_path / "ro" / "nodes",
        "too-long": Path("/tmp") / ("d" * 80),
    }[where]
    cell_env["LRMATRIX_STATE_DIR"] = str(state)
    with read_only_mount(tmp_path / "ro") if where == "read-only" else contextlib.nullcontext():
        res = run_cell("engine-liverestore", tmp_path / "results", cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    line = one_line(res.stderr)
    assert str(state) in line and "LRMATRIX_STATE_DIR" in line, line
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    if where != "file":
        assert_nothing_changed(cell_env)


@pytest.mark.integration
@needs_engine
def test_cell_run_refuses_a_read_only_results_dir(tmp_path, cell_env):
    with read_only_mount(tmp_path / "ro"):
        res = run_cell("engine-liverestore", tmp_path / "ro" / "results", cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "is not writable (Read-only file system); pass a folder you can write to" in one_line(res.stderr)
    assert_nothing_changed(cell_env)


@pytest.mark.integration
@needs_engine
def test_a_second_run_of_one_cell_into_one_results_dir_is_refused(tmp_path, cell_env):
    """The first run holds the lock for its whole life; here the test holds it for it."""
    results = tmp_path / "results"
    lock = preflight.ResultLock(results, "engine-liverestore").acquire()
    try:
        res = run_cell("engine-liverestore", results, cell_env)
    finally:
        lock.release()
    assert res.returncode == 2, res.stdout + res.stderr
    assert (
        f"another run of engine-liverestore (pid {os.getpid()}) is writing its result to {results}"
        in one_line(res.stderr)
    )
    assert_nothing_changed(cell_env)


@pytest.mark.integration
@needs_engine
def test_not_root_exits_2(cell_env):
    # nobody, able to read the tox env's files (tox makes .tox/ private to root) and nothing more
    read_only = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *read_only]
    results = Path(cell_env["LRMATRIX_STATE_DIR"]).parent / "results"
    argv = [*nobody, *cell_argv("engine-liverestore", results, "-q")]
    res = subprocess.run(argv, env=cell_env, capture_output=True, text=True, timeout=120, cwd="/")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "must run as root" in one_line(res.stderr)
    assert_nothing_changed(cell_env)
