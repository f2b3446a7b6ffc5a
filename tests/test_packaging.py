"""The wheel carries the default matrix (the checkout's matrix/ and manifests/, byte for byte:
one source of truth, src/lrmatrix/defaults links to them), the scaffold of ``lrmatrix init``
and the tox entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def uv() -> str | None:
    """uv on PATH, or the one tox-uv installed beside this Python."""
    beside = Path(sys.executable).parent / "uv"
    return shutil.which("uv") or (str(beside) if beside.exists() else None)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    tool = uv()
    if tool is None:
        pytest.skip("needs uv (pip install uv) to build the wheel")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([tool, "build", "--wheel", "-q", "-o", str(out), str(ROOT)], check=True, timeout=300)
    return zipfile.ZipFile(next(out.glob("lrmatrix-*.whl")))


@pytest.mark.parametrize("folder", ["matrix", "manifests"])
def test_the_wheel_holds_the_checkouts_files_byte_for_byte(wheel, folder):
    """Files in subfolders too: the redis workload's configs are in matrix/workloads/redis/."""
    files = [p for p in (ROOT / folder).rglob("*") if p.is_file()]
    for path in files:
        name = path.relative_to(ROOT / folder).as_posix()
        assert wheel.read(f"lrmatrix/defaults/{folder}/{name}") == path.read_bytes(), path
    packaged = {n for n in wheel.namelist() if n.startswith(f"lrmatrix/defaults/{folder}/")}
    assert len(packaged) == len(files)


def test_the_defaults_are_links_to_the_checkouts_folders():
    for folder in ("matrix", "manifests"):
        link = ROOT / "src" / "lrmatrix" / "defaults" / folder
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve()


def test_the_wheel_holds_the_scaffold_and_the_entry_points(wheel):
    names = wheel.namelist()
    for path in (ROOT / "src" / "lrmatrix" / "scaffold").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"lrmatrix/scaffold/{path.relative_to(ROOT / 'src' / 'lrmatrix' / 'scaffold')}" in names
    entry = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[tox]\nlrmatrix = lrmatrix.tox_envs" in entry
