"""Bad input, as a table: each case exits 2 with exactly one line on stderr saying what is
wrong and what to do, no traceback, and (for a cell run) nothing changed on this machine.

Cases come from issue 7's table and the exit-2 list (docs/interrupts-and-exit-codes.md).
Matrix and command-line cases run in-process or as a plain pytest subprocess (no root
needed: the matrix and the results folder are checked before the driver's sanity checks).
Cases that get past the sanity checks (state folder, read-only mounts, a second run of one
cell) need root and a real engine node's tools, so they are marked ``integration``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import leftovers
from conftest import ROOT, engine_ready
from lrmatrix import preflight
from lrmatrix.cli.main import cell_argv, main
from lrmatrix.results import files as results
from lrmatrix.results.outcome import outcome
from prereqs import needs

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
        "other_schema": (tmp_path / "v3.json", json.dumps({"schema": "lrmatrix.result/3"}).encode()),
        "not_object": (tmp_path / "list.json", b"[1, 2, 3]"),
        "bad_cell": (
            tmp_path / "cell.json",
            RESULT.read_bytes().replace(b'"cell": "engine-liverestore"', b'"cell": "x"'),
        ),
        "deep": (tmp_path / "deep.json", b"[" * 100000 + b"]" * 100000),
        "a_file": (tmp_path / "a-file", b"x"),
        "copy": (tmp_path / "copy.json", RESULT.read_bytes()),
        # issue 16: what compare once called "same behaviour" and report a traceback
        "nan": (tmp_path / "nan.json", outage_ms(b"NaN")),
        "infinity": (tmp_path / "inf.json", outage_ms(b"Infinity")),
        "wrong_type": (tmp_path / "type.json", outage_ms(b'"long"')),
    }
    for path, data in made.values():
        path.write_bytes(data)
    (tmp_path / "empty").mkdir()
    (tmp_path / "holds-a-folder" / "engine-liverestore.json").mkdir(parents=True)
    found = {name: str(path) for name, (path, _) in made.items()}
    return {
        **found,
        "empty": str(tmp_path / "empty"),
        "holds_a_folder": str(tmp_path / "holds-a-folder"),
        "good": str(RESULT),
        "missing": str(tmp_path / "nope"),
    }


def outage_ms(value: bytes) -> bytes:
    """The good result with ``probes.node.longest_outage_ms`` set to ``value`` as written."""
    text = RESULT.read_bytes()
    assert text.count(b'"longest_outage_ms": 200.4') == 1
    return text.replace(b'"longest_outage_ms": 200.4', b'"longest_outage_ms": ' + value)


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
    (
        "report-other-schema",
        ["report", "{other_schema}"],
        "is not 'lrmatrix.result/2' (or 'lrmatrix.result/1')",
    ),
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
        "compare-known-growth-syntax",
        ["compare", "{good}", "{good}", "--known-growth", "engine-liverestore=soon"],
        "use CANDIDATE_CELL=MILLISECONDS",
    ),
    (
        "compare-allow-failing-unknown",
        ["compare", "{good}", "{good}", "--allow-failing", "engine-x"],
        "the candidate has no result for that cell",
    ),
    # issue 16: NaN, infinity or a wrong type where a reader looks; a folder where a file must be
    ("report-nan", ["report", "{nan}"], "probes.node.longest_outage_ms is NaN, not a finite number"),
    ("compare-nan-baseline", ["compare", "{nan}", "{good}"], "probes.node.longest_outage_ms is NaN"),
    ("compare-nan-candidate", ["compare", "{good}", "{nan}"], "probes.node.longest_outage_ms is NaN"),
    ("report-infinity", ["report", "{infinity}"], "probes.node.longest_outage_ms is Infinity"),
    ("compare-infinity", ["compare", "{infinity}", "{good}"], "probes.node.longest_outage_ms is Infinity"),
    (
        "report-wrong-type",
        ["report", "{wrong_type}"],
        'probes.node.longest_outage_ms = "long" is not allowed (input should be a valid number)',
    ),
    ("compare-wrong-type", ["compare", "{good}", "{wrong_type}"], "probes.node.longest_outage_ms"),
    (
        "report-a-folder-named-like-a-result",
        ["report", "{holds_a_folder}"],
        "engine-liverestore.json: a folder, not a regular file",
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
        "takes a node of ssh://, not engine://",
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
    assert leftovers.naming(str(state)) == []


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


def test_result_lock_names_its_holder_to_another_process(tmp_path):
    """A second process is refused and told the holder's pid: its attempt leaves the holder's
    file as it is (filelock 4 opens it without truncating)."""
    held = preflight.ResultLock(tmp_path, "engine-liverestore").acquire()
    code = (
        "import sys; from pathlib import Path; from lrmatrix import preflight\n"
        "try: preflight.ResultLock(Path(sys.argv[1]), 'engine-liverestore').acquire()\n"
        "except preflight.BadInput as exc: print(exc)"
    )
    try:
        for _ in range(2):  # the pid survives a refused attempt
            out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
            assert f"another run of engine-liverestore (pid {os.getpid()})" in out.stdout, out.stderr
    finally:
        held.release()
    assert list(tmp_path.iterdir()) == []


# --- past the sanity checks: root and the engine driver's tools ------------------------------
needs_engine = needs(engine_ready())


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
@pytest.mark.parametrize("where", ["file", "below-a-file"])
def test_cell_run_refuses_a_cache_dir_that_is_a_file(tmp_path, cell_env, where):
    """Issue 16: LRMATRIX_CACHE_DIR naming a file gave about 2,000 lines, one traceback per check."""
    (tmp_path / "a-file").write_text("x")
    cache = tmp_path / "a-file" if where == "file" else tmp_path / "a-file" / "cache"
    res = run_cell("engine-liverestore", tmp_path / "results", {**cell_env, "LRMATRIX_CACHE_DIR": str(cache)})
    assert res.returncode == 2, res.stdout + res.stderr
    line = one_line(res.stderr)
    assert f"LRMATRIX_CACHE_DIR {cache}" in line and "is a file, not a folder" in line, line
    assert (tmp_path / "a-file").read_text() == "x"
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


# --- issue 16: hostile files, one-liners, never a wrong verdict, evidence never lost -----------
def lrmatrix(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, bounded in time and memory: a FIFO once hung ``report``,
    and /dev/zero grew it to 1.9 GB."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "lrmatrix", *argv],
        env={**os.environ, "LRMATRIX_MATRIX": str(ROOT / "matrix"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
    )


@pytest.mark.parametrize("verb", ["report", "compare"])
@pytest.mark.parametrize(
    ("kind", "words"),
    [("dev-zero", "a character device, not a regular file"), ("fifo", "a FIFO, not a regular file")],
)
def test_hostile_result_files_are_refused_at_once(tmp_path, verb, kind, words):
    hostile = tmp_path / "engine-liverestore.json"
    if kind == "fifo":
        os.mkfifo(hostile)
    else:
        hostile.symlink_to("/dev/zero")
    res = lrmatrix(verb, str(hostile), *([str(RESULT)] if verb == "compare" else []))
    assert res.returncode == 2, res.stdout + res.stderr
    assert one_line(res.stderr) == f"lrmatrix: {hostile}: {words}; pass a result file or folder"


def deep_matrix(folder: Path) -> Path:
    deep = "{a = " + "[" * 3000 + "]" * 3000 + "}"
    old = "[cells.engine-liverestore-crash]"
    return write_matrix(
        folder, MATRIX.replace(old, f"[cells.engine-liverestore-deep]\ndaemon_json = {deep}\n\n{old}")
    )


def test_tox_list_on_a_matrix_nested_3000_levels_deep_is_one_line(tmp_path):
    """toxfile.py reads the matrix with lrmatrix's loader: the same line as `lrmatrix cells`."""
    folder = deep_matrix(tmp_path / "m")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")}
    argv = [sys.executable, "-m", "tox", "list"]
    res = subprocess.run(
        argv,
        cwd=ROOT,
        env={**env, "LRMATRIX_MATRIX": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    line = one_line(res.stderr)
    assert line.startswith(f"tox: {folder / 'matrix.toml'}: cannot read the matrix: nested too deep"), line


def test_an_unbalanced_quote_in_minikube_flags_is_one_line(tmp_path, cell_env):
    cell_env["LRMATRIX_MINIKUBE_FLAGS"] = '--cpus=2 --extra-config="kubelet.x=1'
    res = run_cell("k8s128-liverestore", tmp_path / "results", cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    line = one_line(res.stderr)
    assert "LRMATRIX_MINIKUBE_FLAGS=" in line and "No closing quotation" in line, line
    assert "LRMATRIX_MINIKUBE_FLAGS" not in res.stdout
    assert not (tmp_path / "results").exists()
    assert_nothing_changed(cell_env)


def test_a_kubernetes_cell_without_minikube_says_so_once_on_stderr(tmp_path, cell_env):
    """`tox -e k8s128-liverestore` showed the line on stdout ("! Exit: ... !") as well."""
    (tmp_path / "bin").mkdir()
    cell_env["PATH"] = str(tmp_path / "bin")  # a machine without minikube (nor anything else)
    res = run_cell("k8s128-liverestore", tmp_path / "results", cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "minikube is not installed" in one_line(res.stderr)
    assert "minikube" not in res.stdout, res.stdout
    assert_nothing_changed(cell_env)


def test_a_folder_where_the_result_goes_is_refused_before_anything(tmp_path, cell_env):
    (tmp_path / "results" / "engine-liverestore.json").mkdir(parents=True)
    res = run_cell("engine-liverestore", tmp_path / "results", cell_env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "engine-liverestore.json is a folder; remove it or pass another --results-dir" in one_line(
        res.stderr
    )
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["engine-liverestore.json"]
    assert_nothing_changed(cell_env)


# --- past the sanity checks: a real engine node ----------------------------------------------
@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "lrmt-full", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def no_container_left(result: dict) -> None:
    """A failed upgrade leaked its containers' processes (issue 16, item 1; branch `leaks`
    makes teardown end them): ended here so the test leaves nothing, and named if found."""
    left = []
    for container in result["containers"]["before"]:
        for pid in container["procs"]:
            if any(container["id"] in path for path in leftovers.cgroups_of(pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    left.append(pid)
    if left:
        warnings.warn(f"container processes left by the run, killed: {left}", stacklevel=2)


@pytest.mark.integration
@needs_engine
def test_a_new_engine_that_refuses_to_start_is_an_error_never_survive(tmp_path, cell_env):
    """Docker 20.10 accepts overlay2.override_kernel_check, 26.1 refuses it: the upgrade cell's
    new engine never starts while live-restore keeps the containers answering. main said
    "observed: survive, passed: true"."""
    cell = "engine-liverestore-refused26"
    extra = (
        f'\n[cells.{cell}]\nengine_after = "docker26"\n'
        'daemon_json = {"storage-opts" = ["overlay2.override_kernel_check=true"]}\n'
    )
    cell_env["LRMATRIX_MATRIX"] = str(write_matrix(tmp_path / "m", MATRIX + extra))
    res = run_cell(cell, tmp_path / "results", cell_env)
    result = json.loads((tmp_path / "results" / f"{cell}.json").read_text())
    no_container_left(result)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    verdict = result["verdict"]
    assert verdict["observed"] == "error" and verdict["passed"] is False, verdict
    assert verdict["reason"].startswith(
        "the new engine (docker26) did not start: dockerd did not start on "
    ), verdict
    assert "unknown option overlay2.override_kernel_check" in verdict["reason"]  # dockerd's own words
    assert "requests failed on the node path while down" in verdict["reason"]  # what was seen
    assert result["disruption"]["api_at"] is None and result["disruption"]["start_at"] is not None
    assert "expected survive, observed error: FAIL (the new engine (docker26) did not start" in res.stdout
    assert "Traceback" not in out


@pytest.mark.integration
@needs_engine
def test_a_results_folder_that_fills_up_keeps_the_result_and_prints_the_verdict(tmp_path, cell_env):
    """A 64 KiB tmpfs that other runs have filled to 8 KiB free (the lock takes a page of it):
    the disruption runs, then neither the result, the daemon's log nor the JUnit XML fits.
    main: a 70-line OSError traceback, no verdict, a truncated .partial."""
    state = tmp_path / "state"
    cell_env["XDG_STATE_HOME"] = str(state)  # the first fallback: kept inside this test
    with tmpfs(tmp_path / "full", "64k") as full:
        (full / "other-runs").write_bytes(b"x" * 56 * 1024)
        junit = full / "engine-liverestore.xml"
        res = run_cell("engine-liverestore", full, cell_env, f"--junitxml={junit}")
        left_on_tmpfs = sorted(p.name for p in full.iterdir())
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "INTERNALERROR" not in out, out
    assert left_on_tmpfs == ["other-runs"], left_on_tmpfs  # no .partial, no half log or XML, no lock
    assert (
        f"lrmatrix: {junit}: not written (No space left on device); the result was written first: "
        in res.stderr
    )
    fallback = sorted((state / "lrmatrix" / "results").glob("engine-liverestore-*/engine-liverestore.json"))
    assert len(fallback) == 1, out
    result = results.load(fallback[0])  # whole and readable
    assert f"result: {fallback[0]} (the results folder could not take it: " in res.stdout
    assert "No space left on device" in res.stdout
    decided = outcome(result, elsewhere="the results folder could not take it")
    said = f"expected survive, observed {decided.observed}: {'PASS' if decided.passed else 'FAIL'}"
    assert said in res.stdout
    assert (fallback[0].parent / "engine-liverestore.dockerd.log").is_file()  # the log went beside it
    assert res.returncode == decided.exit_code == (2 if decided.passed else 1), out
    assert_torn_down(cell_env, result.node.name)


def assert_torn_down(env: dict[str, str], node: str) -> None:
    """A run that did run: its node is gone (state folder emptied, namespace, processes)."""
    state = Path(env["LRMATRIX_STATE_DIR"])
    assert not state.exists() or not any(state.iterdir()), f"state left: {list(state.iterdir())}"
    assert leftovers.mounts_under(state) == []
    assert not Path(f"/run/netns/{node}").exists(), f"namespace {node} left"
    assert leftovers.naming(str(state)) == []
