"""Which Debian packages the offline nginx image is built from, across releases; and its cache,
built for real: a cut tarball is built again, a killed build's scratch folder removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lrmatrix import cache
from lrmatrix.deadline import poll
from lrmatrix.errors import EnvironmentProblem
from lrmatrix.workload import image
from prereqs import needs


def policy(*available: str, missing: tuple[str, ...] = ()) -> str:
    text = "".join(f"{n}:\n  Installed: (none)\n  Candidate: 1.0-1\n  Version table:\n" for n in available)
    return text + "".join(f"{n}:\n  Installed: (none)\n  Candidate: (none)\n" for n in missing)


def fake_run(output: str):
    def run(argv, **_kwargs):
        assert argv[:2] == ["apt-cache", "policy"]
        return subprocess.CompletedProcess(argv, 0, output, "")

    return run


BASE = ("nginx", "libc6", "libcrypt1", "libpcre2-8-0", "zlib1g", "busybox-static")


def test_bookworm_names(monkeypatch):
    monkeypatch.setattr(image, "run", fake_run(policy(*BASE, "libssl3")))
    assert "libssl3" in image.resolve_packages()


def test_t64_rename_is_preferred_where_the_mirror_has_it(monkeypatch):
    monkeypatch.setattr(image, "run", fake_run(policy(*BASE, "libssl3t64", "libssl3")))
    chosen = image.resolve_packages()
    assert "libssl3t64" in chosen and "libssl3" not in chosen


def test_a_package_without_candidate_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(image, "run", fake_run(policy(*BASE, missing=("libssl3", "libssl3t64"))))
    with pytest.raises(EnvironmentProblem, match="none of libssl3t64, libssl3; run `apt-get update`"):
        image.resolve_packages()


# --- the real build, on a cache of the test's own (the machine's apt mirror) -----------------
needs_apt = needs(
    None
    if shutil.which("apt-get")
    else "apt-get is missing (the image is built from a Debian or Ubuntu mirror)"
)


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    return tmp_path


@pytest.mark.integration
@needs_apt
def test_a_built_image_cut_on_a_tar_boundary_is_built_again(own_cache, capfd):
    """Issue 16: a tarball cut between two members reads as a shorter archive; the run passed on it."""
    target = image.cached_tarball()
    with tarfile.open(target) as tar:
        members = tar.getmembers()
    cut = members[len(members) // 2].offset  # the header of a member: everything before is whole
    with target.open("r+b") as fh:
        fh.truncate(cut)
    with tarfile.open(target) as tar:
        assert 0 < len(tar.getmembers()) < len(members), "tarfile no longer reads a cut archive as whole"
    assert image.cached_tarball() == target
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert err == [
        f"lrmatrix: cached image {target}: {target.name} does not match the SHA-256 recorded when it "
        f"was made ({cut} bytes now); building it again"
    ]
    with tarfile.open(target) as tar:
        assert len(tar.getmembers()) == len(members)


BUILD = "from lrmatrix.workload import image; image.cached_tarball()"


@pytest.mark.integration
@needs_apt
def test_a_build_killed_midway_is_cleaned_up_by_the_next(own_cache):
    """SIGKILL during the first build left its 25 MB scratch folder for good."""
    env = {**os.environ, cache.ENV: str(own_cache)}
    building = subprocess.Popen([sys.executable, "-c", BUILD], env=env)
    try:
        made = poll(lambda: list((own_cache / "images").glob(f"{image.SCRATCH}*")), 120, 0.02)
    finally:
        building.kill()
        building.wait()
    assert made and all(p.exists() for p in made), "the build never made its scratch folder"
    image.cached_tarball()
    assert not any(p.exists() for p in made)
    assert list((own_cache / "images").glob(f"{image.SCRATCH}*")) == []


@pytest.mark.integration
@needs_apt
def test_the_redis_recipe_builds_a_root_filesystem_whose_binaries_run(own_cache, tmp_path):
    """Every library redis-server and redis-cli link is in the tarball (the first build lacked
    libstdc++ for jemalloc: 'error while loading shared libraries'); its own cache file and
    tag, beside nginx's."""
    target = image.cached_tarball(image.REDIS)
    assert target.name == f"redis-{image.recipe_key(image.REDIS)}.tar" != image.cached_tarball().name
    assert image.image_tag(image.REDIS).startswith("lrmatrix/redis:")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(target) as tar:
        tar.extractall(root, filter="tar")
    for argv in (["/usr/bin/redis-server", "--version"], ["/usr/bin/redis-cli", "--version"]):
        ran = subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True, timeout=30)
        assert ran.returncode == 0, ran.stderr
        assert "7." in ran.stdout or "redis" in ran.stdout.lower(), ran.stdout
    assert (root / "bin" / "sh").is_symlink()
