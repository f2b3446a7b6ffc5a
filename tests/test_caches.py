"""The cache, without apt: a cached engine or image is used only while its files match the
hashes recorded when it was made, and made again with one line saying why when not; scratch
folders are removed once the process that made them is gone, never while it lives.

(Real fetches and builds, truncated and SIGKILLed: tests/test_engines_fetch.py and
tests/test_image.py, marked integration.)
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lrmatrix import cache, scratch
from lrmatrix.errors import EnvironmentProblem
from lrmatrix.matrix import engines
from lrmatrix.matrix.engines import Engine
from lrmatrix.workload import image

D26 = Engine("docker26", "trixie", "26.1.5+dfsg1-9+deb13u1+b1", "1.7.24~ds1-6+deb13u1")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_verified", {})
    return tmp_path / "cache"


# --- hashes -----------------------------------------------------------------------------------
def test_a_file_that_differs_from_its_record_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_verified", {})
    (tmp_path / "usr").mkdir()
    (tmp_path / "usr/dockerd").write_bytes(b"x" * 1000)
    recorded = cache.tree_hashes(tmp_path)
    assert cache.mismatch(tmp_path, recorded) is None
    with (tmp_path / "usr/dockerd").open("r+b") as fh:
        fh.truncate(600)
    assert cache.mismatch(tmp_path, recorded) == (
        "usr/dockerd does not match the SHA-256 recorded when it was made (600 bytes now)"
    )
    (tmp_path / "usr/dockerd").unlink()
    assert cache.mismatch(tmp_path, recorded) == "usr/dockerd is missing"


def test_an_unchanged_folder_is_hashed_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_verified", {})
    (tmp_path / "f").write_bytes(b"abc")
    recorded = cache.tree_hashes(tmp_path)
    calls = []
    real = cache.sha256
    monkeypatch.setattr(cache, "sha256", lambda p: calls.append(p) or real(p))
    assert cache.mismatch(tmp_path, recorded) is None
    assert cache.mismatch(tmp_path, recorded) is None
    assert len(calls) == 1
    (tmp_path / "f").write_bytes(b"abd")  # same size: the mtime tells
    assert cache.mismatch(tmp_path, recorded) is not None


def test_a_cache_dir_that_is_a_file_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv(cache.ENV, str(tmp_path / "f"))
    with pytest.raises(
        EnvironmentProblem, match=rf"^LRMATRIX_CACHE_DIR {tmp_path}/f: .* is a file, not a folder"
    ):
        image.cached_tarball()
    assert (tmp_path / "f").read_text() == "x"


# --- engines ------------------------------------------------------------------------------------
def fake_engine(folder: Path, hashes: bool = True, runs: bool = True) -> None:
    """An unpacked engine whose binaries answer --version (or crash, ``runs=False``)."""
    for rel in ("usr/sbin/dockerd", "usr/bin/containerd"):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\necho 'Docker version 26.1.5, build x'\n" if runs else "\x7fELF")
        path.chmod(0o755)
    record: dict[str, object] = {"packages": D26.packages()}
    if hashes:
        record["sha256"] = cache.tree_hashes(folder)
    (folder / engines.RECORD).write_text(json.dumps(record))


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """fetch replaced: what would be fetched is recorded, and a good engine is made."""
    calls: list[str] = []

    def fetch(engine: Engine, folder: Path) -> None:
        calls.append(engine.name)
        fake_engine(folder)

    monkeypatch.setattr(engines, "fetch", fetch)
    monkeypatch.setattr(engines, "missing_commands", lambda _: [])
    return calls


def test_a_truncated_cached_dockerd_is_fetched_again_with_one_line(cache_dir, fetches, capsys):
    folder = cache_dir / "engines" / "26.1.5"
    fake_engine(folder)
    engines.ensure(D26)
    assert fetches == []
    with (folder / "usr/sbin/dockerd").open("r+b") as fh:
        fh.truncate(10)
    assert engines.ensure(D26).root == folder
    assert fetches == ["docker26"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"lrmatrix: cached engine docker26 at {folder}: usr/sbin/dockerd does not match the SHA-256 "
        "recorded when it was made (10 bytes now); fetching it again"
    ]


def test_an_engine_cached_without_hashes_is_kept_if_it_runs_and_its_hashes_recorded(cache_dir, fetches):
    folder = cache_dir / "engines" / "26.1.5"
    fake_engine(folder, hashes=False)
    engines.ensure(D26)
    assert fetches == []
    assert json.loads((folder / engines.RECORD).read_text())["sha256"] == cache.tree_hashes(
        folder, (engines.RECORD,)
    )


def test_an_engine_cached_without_hashes_that_does_not_run_is_fetched_again(cache_dir, fetches, capsys):
    fake_engine(cache_dir / "engines" / "26.1.5", hashes=False, runs=False)
    engines.ensure(D26)
    assert fetches == ["docker26"]
    err = capsys.readouterr().err
    assert "no hashes recorded, and dockerd from trixie does not run here: " in err, err
    assert "Exec format error; fetching it again" in err, err


def test_a_first_fetch_says_nothing(cache_dir, fetches, capsys):
    engines.ensure(D26)
    assert fetches == ["docker26"] and capsys.readouterr().err == ""


# --- the image -------------------------------------------------------------------------------------
def fake_build(target: Path) -> None:
    """A tarball of three files, published and recorded as ``image.build`` does."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("bin/busybox", "etc/passwd", "usr/sbin/nginx"):
            data = name.encode() * 400
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target.write_bytes(buf.getvalue())
    image._record(target, cache.sha256(target))


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr(image, "build", lambda target, recipe: calls.append(target) or fake_build(target))
    return calls


def member_ends(path: Path) -> list[int]:
    with tarfile.open(path) as tar:
        return [m.offset_data + ((m.size + 511) // 512) * 512 for m in tar.getmembers()]


@pytest.mark.parametrize("cut", ["tar-boundary", "mid-file"])
def test_a_truncated_cached_image_is_built_again_with_one_line(cache_dir, builds, capsys, cut):
    target = image.cached_tarball()
    assert builds == [target]
    ends = member_ends(target)
    size = ends[0] if cut == "tar-boundary" else ends[0] + 100
    with tarfile.open(target) as tar:  # on a boundary, tarfile reads a shorter archive without a word
        assert cut != "tar-boundary" or len(tar.getmembers()) == 3
    with target.open("r+b") as fh:
        fh.truncate(size)
    if cut == "tar-boundary":
        with tarfile.open(target) as tar:
            assert len(tar.getmembers()) == 1, "the truncation should look like a whole archive"
    assert image.cached_tarball() == target
    assert len(builds) == 2
    assert capsys.readouterr().err.strip() == (
        f"lrmatrix: cached image {target}: {target.name} does not match the SHA-256 recorded "
        f"when it was made ({size} bytes now); building it again"
    )
    assert image._unusable(target) is None


def test_an_image_built_without_a_record_is_built_again(cache_dir, builds, capsys):
    target = cache_dir / "images" / f"nginx-{image.recipe_key()}.tar"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"from an older lrmatrix")
    image.cached_tarball()
    assert builds == [target]
    assert "no hash was recorded when it was built; building it again" in capsys.readouterr().err


# --- scratch folders -------------------------------------------------------------------------------
HOLD = """
import sys, time
from pathlib import Path
from lrmatrix import scratch
print(scratch.make(Path(sys.argv[1]), ".fetch-"), flush=True)
time.sleep(600)
"""


def test_a_scratch_folder_is_stale_once_its_owner_is_killed_never_before(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        made = Path(owner.stdout.readline().strip())
        assert made.is_dir() and made.parent == tmp_path
        assert scratch.stale(tmp_path, ".fetch-") == []
        assert scratch.remove_stale(tmp_path, ".fetch-") == [] and made.is_dir()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert scratch.stale(tmp_path, ".fetch-") == [made]
    assert scratch.remove_stale(tmp_path, ".fetch-") == [made] and not made.exists()


def test_a_recycled_pid_is_not_the_owner(tmp_path):
    mine = scratch.make(tmp_path, ".build-")
    assert scratch.stale(tmp_path, ".build-") == []
    pid, started = scratch.OWNER.match(mine.name.removeprefix(".build-")).groups()  # type: ignore[union-attr]
    other = tmp_path / f".build-{pid}-{int(started) - 500}-abc"  # the same pid, started 5 s earlier
    other.mkdir()
    assert scratch.stale(tmp_path, ".build-") == [other]


def test_a_name_without_an_owner_is_left_unless_the_caller_holds_the_makers_lock(tmp_path):
    legacy = tmp_path / ".fetch-k2j4_x9a"  # tempfile's name, as an older lrmatrix made it
    legacy.mkdir()
    assert scratch.stale(tmp_path, ".fetch-") == []
    assert scratch.stale(tmp_path, ".fetch-", unowned=True) == [legacy]


def test_recover_removes_stale_scratch_and_says_so(cache_dir, capsys, monkeypatch):
    from lrmatrix.cli import main as cli
    from lrmatrix.cli import recover as cli_recover

    dead = cache_dir / "engines" / ".fetch-1-1-zzz"  # pid 1's start time is not 0.01 s
    dead.mkdir(parents=True)
    (cache_dir / "images").mkdir()
    live = scratch.make(cache_dir / "images", image.SCRATCH)
    monkeypatch.setattr(cli_recover, "load_matrix", lambda: type("M", (), {"cells": []})())
    assert cli.main(["recover"]) == 0
    out = capsys.readouterr().out
    assert f"removed the scratch folder {dead} of a build or fetch whose process died" in out
    assert not dead.exists() and live.is_dir()
