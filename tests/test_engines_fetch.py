"""Engines fetched for real from the machine's own Debian mirror into a cache of the test's
own: once, verified, reused; and refused in one line when they cannot run here or a pinned
version has left its suite. The machine's apt configuration and its cache stay untouched."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, engine_ready
from lrmatrix.cli.main import cell_argv
from lrmatrix.deadline import poll
from lrmatrix.errors import BadInput, EnvironmentProblem
from lrmatrix.matrix import engines
from lrmatrix.matrix.engines import Engine
from prereqs import needs

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]

MATRIX = (ROOT / "matrix" / "matrix.toml").read_text()
D26 = Engine("docker26", "trixie", "26.1.5+dfsg1-9+deb13u1+b1", "1.7.24~ds1-6+deb13u1")
#: Debian 13's runc, linked against glibc 2.38: it cannot run on Debian 12 (glibc 2.36)
TRIXIE_RUNC = "1.1.15+ds1-2+b4"


def apt_state() -> str:
    """A digest of the machine's own apt configuration and lists: a fetch must not change it."""
    h = hashlib.sha256()
    for folder in (Path("/etc/apt"), Path("/var/lib/apt/lists")):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "partial" not in p.parts):
            h.update(str(path).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("engine-cache")
    old = os.environ.get("LRMATRIX_CACHE_DIR")
    os.environ["LRMATRIX_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("LRMATRIX_CACHE_DIR", None)
    else:
        os.environ["LRMATRIX_CACHE_DIR"] = old


def test_fetch_once_verified_then_reused(cache, monkeypatch):
    before = apt_state()
    binaries = engines.ensure(D26)
    assert binaries.root == cache / "engines" / "26.1.5"
    assert binaries.docker_version() == "26.1.5"
    res = subprocess.run(
        ["containerd", "--version"], env={**os.environ, **binaries.env()}, capture_output=True, text=True
    )
    assert " 1.7.24" in res.stdout, res
    assert apt_state() == before, "the fetch changed the machine's apt configuration or lists"

    def no_second_fetch(*args: object) -> None:
        raise AssertionError("fetched again although the engine is cached")

    monkeypatch.setattr(engines, "fetch", no_second_fetch)
    assert engines.ensure(D26) == binaries


def test_an_engine_whose_binary_needs_a_newer_glibc_is_refused_and_not_cached(cache):
    engine = Engine("trixie-runc", D26.suite, D26.docker, D26.containerd, TRIXIE_RUNC)
    with pytest.raises(EnvironmentProblem, match=r"runc from trixie needs glibc 2\.38"):
        engines.fetch(engine, cache / "engines" / "refused")
    assert not (cache / "engines" / "refused").exists()
    assert not list((cache / "engines").glob(".fetch-*")), "the half-made engine stayed behind"


def test_a_pin_that_left_its_suite_is_refused_naming_what_it_has_now(cache):
    engine = Engine("gone", "trixie", "26.1.4+dfsg1-1", D26.containerd)
    gone = r"docker.io 26\.1\.4\+dfsg1-1 is no longer in Debian trixie; it has 26\.1\.5"
    with pytest.raises(BadInput, match=gone):
        engines.ensure(engine)


def test_a_cell_on_an_engine_that_cannot_run_exits_2_with_one_line(cache, tmp_path):
    folder = tmp_path / "matrix"
    folder.mkdir()
    pin = 'containerd = "1.7.24~ds1-6+deb13u1"\n'
    bad = MATRIX.replace(pin, f'{pin}runc = "{TRIXIE_RUNC}"\n', 1)
    assert bad != MATRIX
    (folder / "matrix.toml").write_text(bad)
    results = tmp_path / "results"
    state = Path(tempfile.mkdtemp(prefix="lrmt-", dir="/tmp"))  # short: containerd's socket paths
    env = {**os.environ, "LRMATRIX_MATRIX": str(folder), "LRMATRIX_STATE_DIR": str(state / "s")}
    res = subprocess.run(
        cell_argv("engine26-liverestore", results, "-q"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and "runc from trixie needs glibc 2.38" in lines[0], res.stderr
    assert not results.exists() or not list(results.iterdir()), "a refused run wrote results"
    assert not (state / "s").exists() or not list((state / "s").iterdir()), "a refused run made a node"
    state.rmdir()


def test_a_truncated_cached_dockerd_is_fetched_again_with_one_line(cache, capfd):
    """Issue 16: a truncated dockerd of 26.1 failed as "dockerd printed nothing", no word of
    the cache, nothing fetched again."""
    dockerd = engines.ensure(D26).root / "usr/sbin/dockerd"  # type: ignore[operator]
    with dockerd.open("r+b") as fh:
        fh.truncate(dockerd.stat().st_size // 2)
    again = engines.ensure(D26)
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "usr/sbin/dockerd does not match the SHA-256 recorded" in err[0], err
    assert err[0].endswith("; fetching it again")
    assert again.docker_version() == "26.1.5"


FETCH = f"from lrmatrix.matrix import engines; engines.ensure(engines.{D26!r})"


def test_a_fetch_killed_midway_leaves_a_folder_that_recover_removes(tmp_path):
    """SIGKILL during the first fetch left engines/.fetch-* (71 MB) for good."""
    env = {**os.environ, "LRMATRIX_CACHE_DIR": str(tmp_path)}
    fetching = subprocess.Popen([sys.executable, "-c", FETCH], env=env, cwd=ROOT)
    try:
        made = poll(lambda: list((tmp_path / "engines").glob(".fetch-*")), 180, 0.05)
    finally:
        fetching.kill()
        fetching.wait()
    assert made, "the fetch never made its scratch folder"
    assert all(p.exists() for p in made)
    res = subprocess.run([sys.executable, "-m", "lrmatrix", "recover"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"removed the scratch folder {made[0]}" in res.stdout
    assert not any(p.exists() for p in made)
