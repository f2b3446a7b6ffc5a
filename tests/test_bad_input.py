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
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix import preflight
from lrmatrix.cli import cell_argv, main

MATRIX = (ROOT / "matrix" / "matrix.toml").read_text()
RESULT = Path(__file__).parent / "data" / "run-a" / "engine-liverestore.json"
CRASH = "[cells.engine-liverestore-crash]\n"
#: the first package-upgrade cell's command list, whole
_AT = MATRIX.index("upgrade_command = [")
UPGRADE = MATRIX[_AT : MATRIX.index("]\n", _AT) + 2]

# (case id, text in matrix.toml, replaced by, words the one line must contain)
MATRIX_CASES = [
    # issue 7's table
    (
        "typo-stop-signal",
        'stop_signal = "SIGKILL"',
        'stop_signl = "SIGKILL"',
        "[cells.engine-liverestore-crash]: unknown key 'stop_signl'; did you mean 'stop_signal'?",
    ),
    ("timing-not-timings", "[timings]", "[timing]", "unknown table [timing]; did you mean [timings]?"),
    (
        "window-nan",
        "outage_window_s = 5.0 ",
        "outage_window_s = nan ",
        "[timings]: outage_window_s = nan is not allowed",
    ),
    ("window-inf", "outage_window_s = 5.0 ", "outage_window_s = inf ", "outage_window_s = inf"),
    ("window-minus-inf", "outage_window_s = 5.0 ", "outage_window_s = -inf ", "outage_window_s = -inf"),
    (
        "window-1e300",
        "outage_window_s = 5.0 ",
        "outage_window_s = 1e300 ",
        "outage_window_s = 1e+300 is not allowed (input should be less than or equal to 3600)",
    ),
    ("interval-inf", "probe_interval_s = 0.05 ", "probe_interval_s = inf ", "probe_interval_s = inf"),
    (
        "interval-1e9",
        "probe_interval_s = 0.05 ",
        "probe_interval_s = 1e9 ",
        "use a finite number of seconds from 0.005 to 10",
    ),
    ("interval-nan", "probe_interval_s = 0.05 ", "probe_interval_s = nan ", "probe_interval_s = nan"),
    # ranges and types of every timing
    ("interval-1ms", "probe_interval_s = 0.05 ", "probe_interval_s = 0.001 ", "from 0.005 to 10"),
    ("interval-zero", "probe_interval_s = 0.05 ", "probe_interval_s = 0 ", "from 0.005 to 10"),
    ("window-too-short", "outage_window_s = 5.0 ", "outage_window_s = 0.1 ", "from 0.5 to 3600"),
    ("window-over-an-hour", "outage_window_s = 5.0 ", "outage_window_s = 7200 ", "from 0.5 to 3600"),
    ("window-negative", "outage_window_s = 5.0 ", "outage_window_s = -5 ", "from 0.5 to 3600"),
    ("window-string", "outage_window_s = 5.0 ", 'outage_window_s = "5" ', "(input should be a valid number)"),
    ("window-bool", "outage_window_s = 5.0 ", "outage_window_s = true ", "outage_window_s = true"),
    ("timeout-negative", "probe_timeout_s = 0.5 ", "probe_timeout_s = -1 ", "probe_timeout_s = -1"),
    ("ready-zero", "ready_timeout_s = 30.0 ", "ready_timeout_s = 0 ", "ready_timeout_s = 0"),
    ("recover-huge", "recover_timeout_s = 30.0 ", "recover_timeout_s = 1e12 ", "recover_timeout_s = 1e+12"),
    ("stop-list", "stop_timeout_s = 20.0 ", "stop_timeout_s = [20] ", "stop_timeout_s = [20]"),
    (
        "timing-typo",
        "outage_window_s = 5.0 ",
        "outage_windw_s = 5.0 ",
        "[timings]: unknown key 'outage_windw_s'; did you mean 'outage_window_s'?",
    ),
    (
        "platform-timing-typo",
        "timings = { outage_window_s = 60.0,",
        "timings = { outage_windows_s = 60.0,",
        "[platforms.k8s128.timings]: unknown key 'outage_windows_s'",
    ),
    (
        "platform-timing-nan",
        "timings = { outage_window_s = 60.0,",
        "timings = { outage_window_s = nan,",
        "[platforms.k8s128.timings]: outage_window_s = nan",
    ),
    (
        "cell-timing-nan",
        CRASH,
        CRASH + "timings = { probe_interval_s = nan }\n",
        "[cells.engine-liverestore-crash.timings]: probe_interval_s = nan",
    ),
    # top level
    ("unknown-top-key", "[axes]", "colour = 1\n[axes]", "unknown key 'colour'"),
    (
        "schema-2",
        'schema = "lrmatrix.matrix/1"',
        'schema = "lrmatrix.matrix/2"',
        'schema = "lrmatrix.matrix/2"',
    ),
    ("schema-missing", 'schema = "lrmatrix.matrix/1"', "", "'schema' is missing; add it"),
    (
        "unknown-table",
        "[axes]",
        "[axis]\nplatform = []\n[axes]",
        "unknown table [axis]; did you mean [axes]?",
    ),
    # axes
    ("axes-typo", "variant = [", "variants = [", "[axes]: unknown key 'variants'; did you mean 'variant'?"),
    ("axes-empty", 'variant = ["liverestore", "noliverestore"]', "variant = []", "[axes]: variant = []"),
    ("axes-bad-platform", '"k8s134"]', '"k8s134", "k8s99"]', "string should match pattern"),
    (
        "axes-platform-without-table",
        '"k8s134"]',
        '"k8s134", "k8s135"]',
        "[axes]: platform 'k8s135' has no [platforms.k8s135] table",
    ),
    (
        "axes-variant-typo",
        '"noliverestore"]',
        '"noliverestor"]',
        '[axes]: variant[1] = "noliverestor" is not allowed',
    ),
    # platforms
    ("driver-typo", 'driver = "engine"', 'driver = "engin"', 'use one of "engine", "minikube", "ssh"'),
    (
        "driver-key-typo",
        'driver = "engine"',
        'drivr = "engine"',
        "unknown key 'drivr'; did you mean 'driver'?",
    ),
    (
        "platform-stop-signal",
        'stop_signal = "SIGTERM"',
        'stop_signal = "SIGHUP"',
        '[platforms.engine]: stop_signal = "SIGHUP" is not allowed',
    ),
    (
        "kubernetes-version",
        'kubernetes = "v1.28.',
        'kubernetes = "1.28.',
        '[platforms.k8s128]: kubernetes = "1.28.',
    ),
    ("platform-name", "[platforms.k8s128]", "[platforms.k8s12]", "[platforms]: unknown name 'k8s12'"),
    (
        "platform-unused",
        "[kubernetes]",
        '[platforms.k8s140]\ndriver = "minikube"\n[kubernetes]',
        "[platforms.k8s140]: no cell uses this platform",
    ),
    (
        "platform-description-number",
        'description = "a dockerd the harness starts in its own network namespace (no Kubernetes)"',
        "description = 5",
        "description = 5 is not allowed",
    ),
    (
        "platform-live-restore",
        '"storage-driver" = "overlay2"',
        '"live-restore" = true',
        "[platforms.engine.daemon_json]: 'live-restore' is set by the variant",
    ),
    # variants
    (
        "variant-name",
        "[variants.noliverestore]",
        "[variants.noliverestor]",
        "[variants]: unknown name 'noliverestor'",
    ),
    ("live-restore-string", "live_restore = true", 'live_restore = "yes"', "use true or false"),
    ("expect-typo", 'expect = "survive"', 'expect = "survives"', 'use one of "survive", "outage"'),
    (
        "expect-key-typo",
        'expect = "survive"',
        'expct = "survive"',
        "unknown key 'expct'; did you mean 'expect'?",
    ),
    ("variant-missing-expect", 'expect = "survive"', "", "[variants.liverestore]: 'expect' is missing"),
    # extra cells
    (
        "expect-paths-node",
        'expect_paths = { loopback = "outage" }',
        'expect_paths = { node = "outage" }',
        "'node' is not allowed here; use one of loopback, pod",
    ),
    (
        "expect-paths-typo",
        'expect_paths = { loopback = "outage" }',
        'expect_paths = { lopback = "outage" }',
        "did you mean 'loopback'?",
    ),
    (
        "expect-paths-value",
        'expect_paths = { loopback = "outage" }',
        'expect_paths = { loopback = "fine" }',
        'loopback = "fine" is not allowed',
    ),
    ("cell-name", CRASH, "[cells.engine_liverestore_crash]\n", "named <platform>-<variant>-<extra>"),
    ("cell-without-extra", CRASH, "[cells.engine-liverestore]\n", "named <platform>-<variant>-<extra>"),
    (
        "cell-unknown-platform",
        CRASH,
        "[cells.k8s999-liverestore-crash]\n",
        "platform 'k8s999' has no [platforms.k8s999] table",
    ),
    (
        "cell-live-restore",
        'daemon_json = { "userland-proxy" = false }',
        'daemon_json = { "userland-proxy" = false, "live-restore" = true }',
        "[cells.engine-liverestore-noproxy.daemon_json]: 'live-restore' is set by the variant",
    ),
    ("cell-live-restore-key", CRASH, CRASH + "live_restore = false\n", "unknown key 'live_restore'"),
    # package-upgrade cells
    (
        "upgrade-without-engine-after",
        'engine_after = "docker26"\nupgrade_command',
        "upgrade_command",
        "upgrade_command needs engine_after = <engine>",
    ),
    ("upgrade-empty-list", UPGRADE, "upgrade_command = []\n", "upgrade_command = [] is not allowed"),
    ("upgrade-blank", UPGRADE, 'upgrade_command = " "\n', "upgrade_command"),
    (
        "upgrade-with-signal",
        "upgrade_command = [",
        'stop_signal = "SIGKILL"\nupgrade_command = [',
        "its upgrade command is the disruption, not a signal",
    ),
    (
        "upgrade-debs-of-machine",
        'engine_after = "docker26"\nupgrade_command',
        'engine_after = "machine"\nupgrade_command',
        "'machine' pins none",
    ),
    (
        "upgrade-on-kubernetes",
        CRASH,
        '[cells.k8s128-liverestore-pkg]\nengine_after = "docker26"\nupgrade_command = "true"\n' + CRASH,
        "upgrade_command is for engine platforms",
    ),
    # Kubernetes-only tables
    (
        "kubernetes-typo",
        'namespace_prefix = "lrm-"',
        'namespace_prefx = "lrm-"',
        "[kubernetes]: unknown key 'namespace_prefx'; did you mean 'namespace_prefix'?",
    ),
    ("kubernetes-nan", "node_poll_s = 2.0 ", "node_poll_s = nan ", "[kubernetes]: node_poll_s = nan"),
    ("minikube-flags-string", "start_flags = []", 'start_flags = "--cpus=2"', "start_flags"),
    # the rest of the line becomes a comment: the case outlives the next pin
    ("minikube-release-number", 'release = "v', 'release = 1.38 # "v', "[minikube]: release = 1.38"),
    # the file itself
    ("not-toml", "[axes]", "[axes", "cannot read the matrix"),
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
