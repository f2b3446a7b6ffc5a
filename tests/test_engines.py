"""Engines as data: the [engines] tables, the cells that use them, the machine's mirror, the
cache record, and the refusals that must come before anything changes."""

from __future__ import annotations

import configparser
import json
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lrmatrix import cache
from lrmatrix.cli.main import cell_argv, main
from lrmatrix.drivers import NodeSpec
from lrmatrix.drivers.ssh.node import SshNode
from lrmatrix.errors import BadInput, EnvironmentProblem
from lrmatrix.matrix import engines
from lrmatrix.matrix.cells import CELL_NAME, load_matrix, parse_matrix
from lrmatrix.matrix.engines import MACHINE, Engine, upstream
from lrmatrix.report.rows import versions_side_by_side
from lrmatrix.results import files as results

D26 = {"suite": "trixie", "docker": "26.1.5+dfsg1-9+deb13u1+b1", "containerd": "1.7.24~ds1-6+deb13u1"}
BASE = {
    "schema": "lrmatrix.matrix.cells/1",
    "axes": {"platform": ["engine", "engine26"], "variant": ["liverestore"]},
    "platforms": {"engine": {"driver": "engine"}, "engine26": {"driver": "engine", "engine": "docker26"}},
    "variants": {"liverestore": {"live_restore": True, "expect": "survive"}},
    "engines": {"docker26": D26},
    "cells": {"engine-liverestore-upgrade26": {"engine_after": "docker26"}},
}


def parse(**overrides):
    return parse_matrix({**BASE, **overrides}, Path("m.toml"))


@pytest.mark.parametrize(
    ("debian", "version"),
    [("26.1.5+dfsg1-9+deb13u1+b1", "26.1.5"), ("1:2.1.9~ds1-5", "2.1.9"), ("20.10.24-1", "20.10.24")],
)
def test_upstream_version_drops_epoch_and_debian_revision(debian, version):
    assert upstream(debian) == version


def test_cells_name_the_engine_they_start_and_the_one_after_the_window():
    m = parse()
    names = ("engine-liverestore", "engine26-liverestore", "engine-liverestore-upgrade26")
    plain, on26, upgrade = (m.cell(n) for n in names)
    assert plain.engine.name == MACHINE and plain.engine_after is None and plain.next_engine == plain.engine
    assert on26.engine == Engine("docker26", **D26) and on26.engine.version == "26.1.5"
    assert upgrade.engine.name == MACHINE and upgrade.next_engine.name == "docker26"
    assert m.engines[MACHINE].is_machine


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"engines": {"docker26": {**D26, "docker": ""}}}, r"\[engines.docker26\]: docker = \"\" is not"),
        ({"engines": {"docker26": {"suite": "trixie", "docker": "26.1.5"}}}, "'containerd' is missing"),
        ({"engines": {"docker26": {**D26, "pin": "x"}}}, "unknown key 'pin'"),
        ({"engines": {"docker26": D26, "machine": D26}}, "'machine' is the installed engine; rename"),
        ({"cells": {"engine-liverestore-x": {"engine_after": "docker99"}}}, r"no \[engines.docker99\] table"),
        ({"engines": {}}, r"\[platforms.engine26\]: engine = 'docker26' has no \[engines.docker26\]"),
    ],
)
def test_bad_engine_tables_are_one_line_naming_the_fault(overrides, message):
    with pytest.raises(BadInput, match=message):
        parse(**overrides)


def test_repository_matrix_has_the_engine_cells_and_their_names_keep_the_contract(root_dir):
    m = load_matrix(root_dir / "matrix")
    wanted = {
        "engine26-liverestore": ("docker26", "docker26"),
        "engine26-noliverestore": ("docker26", "docker26"),
        "engine-liverestore-upgrade26": (MACHINE, "docker26"),
        "engine-noliverestore-upgrade26": (MACHINE, "docker26"),
        "engine26-liverestore-downgrade20": ("docker26", MACHINE),
        "engine28-liverestore": ("docker28", "docker28"),
    }
    for name, (first, after) in wanted.items():
        cell = m.cell(name)
        assert (cell.engine.name, cell.next_engine.name) == (first, after), name
    assert CELL_NAME.match("engine26-liverestore-downgrade20")
    assert not CELL_NAME.match("engineX-liverestore")


def test_machine_mirror_from_one_line_and_deb822_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("LRMATRIX_APT_ETC", str(tmp_path))
    monkeypatch.setattr(engines, "_os_release", lambda: {"VERSION_CODENAME": "bookworm"})
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "# deb http://commented.example/debian bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /k.gpg\n"
    )
    assert engines.machine_mirror() == ("http://mirror.example/debian", "/k.gpg")
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://m2.example/debian/ bookworm main\n")
    assert engines.machine_mirror() == ("http://m2.example/debian/", engines.DEFAULT_KEYRING)
    (tmp_path / "sources.list").write_text("deb http://m2.example/debian trixie main\n")
    with pytest.raises(EnvironmentProblem, match="no Debian mirror for bookworm"):
        engines.machine_mirror()


def test_machine_engine_needs_no_fetch_and_uses_path():
    binaries = engines.ensure(engines.MACHINE_ENGINE)
    assert binaries.root is None and binaries.dockerd() == "dockerd" and binaries.env() == {}


def test_a_cached_engine_counts_only_with_its_exact_pins_and_hashes(tmp_path, monkeypatch):
    monkeypatch.setenv("LRMATRIX_CACHE_DIR", str(tmp_path))
    engine = Engine("docker26", **D26)
    folder = tmp_path / "engines" / "26.1.5"
    (folder / "usr/sbin").mkdir(parents=True)
    (folder / "usr/sbin/dockerd").write_bytes(b"a dockerd")
    record = {"packages": engine.packages(), "sha256": cache.tree_hashes(folder)}
    (folder / engines.RECORD).write_text(json.dumps(record))
    monkeypatch.setattr(engines, "fetch", lambda *a: pytest.fail("fetched although it is cached"))
    binaries = engines.ensure(engine)
    assert binaries.root == folder
    assert binaries.env()["PATH"].startswith(f"{folder}/usr/sbin:{folder}/usr/bin:")
    assert engines._unusable(folder, engine) is None
    other = Engine("docker26", **{**D26, "containerd": "1.7.25"})
    assert engines._unusable(folder, other) == engines.NOT_FETCHED


def test_ssh_refuses_binary_swap_cells_before_connecting():
    spec = NodeSpec.parse("ssh://root@198.18.200.2", {"allow_disruption": "true"})
    node = SshNode(load_matrix().cell("engine-liverestore-upgrade26"), spec)
    with pytest.raises(BadInput, match="package manager upgrades Docker"):
        node.sanity_checks()
    assert node.transport._client is None, "it connected before refusing"


def test_only_the_engine_driver_swaps_binaries():
    cell = load_matrix().cell("engine-liverestore-upgrade26")
    node = SshNode(cell, NodeSpec.parse("ssh://root@198.18.200.2"))
    with pytest.raises(BadInput, match="cannot swap dockerd binaries"):
        node.switch_engine(cell.next_engine)


def test_report_puts_an_upgrade_cells_versions_side_by_side():
    data = Path(__file__).parent / "data" / "run-engines"
    upgrade = results.load(data / "engine-liverestore-upgrade26.json")
    shown = versions_side_by_side(upgrade)
    assert shown["docker"] == "20.10.24+dfsg1 → 26.1.5+dfsg1"
    assert shown["runc"] == upgrade.versions["runc"] == upgrade.engine.after["runc"]  # unchanged: once
    same = results.load(data / "engine-liverestore.json")
    assert versions_side_by_side(same) == same.versions
    same.engine = None  # a result written before the engine after the window was kept
    assert versions_side_by_side(same) == same.versions


def test_concurrent_first_uses_fetch_once(tmp_path, monkeypatch):
    """Two cells starting together on an uncached engine: one fetches, the other waits for the
    lock and then finds it cached. (fetch is replaced: the lock is under test, not apt.)"""
    monkeypatch.setenv("LRMATRIX_CACHE_DIR", str(tmp_path))
    engine = Engine("docker26", **D26)
    calls = []

    def slow_fetch(e: Engine, folder: Path) -> None:
        calls.append(e.name)
        time.sleep(0.5)
        folder.mkdir(parents=True)
        (folder / "dockerd").write_bytes(b"a dockerd")
        hashes = cache.tree_hashes(folder)
        (folder / engines.RECORD).write_text(json.dumps({"packages": e.packages(), "sha256": hashes}))

    monkeypatch.setattr(engines, "fetch", slow_fetch)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: engines.ensure(engine), range(2)))
    assert calls == ["docker26"]
    assert found[0] == found[1] and found[0].root == tmp_path / "engines" / "26.1.5"


# --- the upgrade gate, on results of real runs (tests/data/run-engines) ------------------------
ENGINE_RUN = Path(__file__).parent / "data" / "run-engines"
GATE = (str(ENGINE_RUN / "engine-*liverestore.json"), str(ENGINE_RUN / "engine26-*liverestore.json"))


def ci_gate_options() -> list[str]:
    """The options of tox.ini's upgrade-gate command, so this test runs the gate as CI does."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(Path(__file__).parents[1] / "tox.ini")
    argv = shlex.split(tox["testenv:upgrade-gate"]["commands"].replace("\\\n", " "))
    assert argv[:2] == ["lrmatrix", "compare"] and all("{tox_root}/results/" in a for a in argv[2:4]), argv
    return argv[4:]


def test_the_gate_pairs_each_plain_cell_with_its_engine26_twin(capsys):
    """As CI runs it (tox -e upgrade-gate)."""
    options = ci_gate_options()
    assert "--known-growth" in options, options
    code = main(["compare", *GATE, *options])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "engine-liverestore -> engine26-liverestore: same behaviour" in out
    # 26.1's slower start: the loopback path's 1.2 s growth is within the known growth CI accepts
    assert "engine-noliverestore -> engine26-noliverestore: same behaviour" in out
    assert "0 of 2 pair(s) regressed" in out and "engine26-noliverestore known growth +1450 ms" in out
    # without it, the default tolerance reports that growth (information: only the node path gates)
    assert main(["compare", *GATE, "--pair", "engine=engine26", "--tolerance-ms", "1000"]) == 0
    assert "~ loopback path longest outage grew: 7651 ms -> 8900 ms" in capsys.readouterr().out
    assert "docker 20.10.24+dfsg1 -> 26.1.5+dfsg1" in out and "upgrade26" not in out


def test_the_gate_fails_when_the_candidate_engine_regresses(tmp_path, capsys):
    for f in ENGINE_RUN.glob("engine26-*.json"):
        data = json.loads(f.read_text())
        if data["cell"] == "engine26-liverestore":
            data["verdict"].update(observed="outage", passed=False, reason="edited: the workload went down")
        (tmp_path / f.name).write_text(json.dumps(data))
    candidate = str(tmp_path / "engine26-*liverestore.json")
    code = main(["compare", GATE[0], candidate, "--pair", "engine=engine26"])
    assert code == 1
    assert "engine-liverestore -> engine26-liverestore: REGRESSION" in capsys.readouterr().out


def test_a_pattern_that_matches_nothing_is_one_line_exit_2(capsys):
    assert main(["compare", str(ENGINE_RUN / "engine99-*.json"), GATE[1]]) == 2
    assert "no file matches this pattern" in capsys.readouterr().err


def test_real_upgrade_results_record_both_engines_and_the_event():
    up = json.loads((ENGINE_RUN / "engine-liverestore-upgrade26.json").read_text())
    assert up["engine"]["before"]["name"] == "machine" and up["engine"]["after"]["name"] == "docker26"
    assert any(e["name"] == "dockerd 20.10.24 → 26.1.5" for e in up["events"])
    assert up["containers"]["pids_kept"] is True and up["verdict"]["passed"] is True


def test_cells_as_json_name_their_engines(capsys):
    assert main(["cells", "--format", "json"]) == 0
    cells = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    upgrade = cells["engine-liverestore-upgrade26"]
    assert upgrade["engine"]["name"] == "machine" and upgrade["engine_after"]["docker"].startswith("26.1.5")
    assert cells["engine-liverestore"]["timings"]["outage_window_s"] == 5.0


def test_an_ssh_run_of_an_upgrade_cell_exits_2_with_one_line_before_connecting(root_dir, tmp_path):
    """198.18.200.2 is never up here: the refusal must come before any connection attempt."""
    argv = cell_argv(
        "engine-liverestore-upgrade26", tmp_path, "--node", "ssh://root@198.18.200.2",
        "--allow-disruption", "-q",
    )  # fmt: skip
    res = subprocess.run(argv, cwd=root_dir, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and "the package manager upgrades Docker" in lines[0], res.stderr
    assert not list(tmp_path.iterdir()), "a refused run wrote results"
