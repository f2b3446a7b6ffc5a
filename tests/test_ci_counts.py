""".ci/counts.py: the table of tests that ran, read from junit files a real pytest wrote."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

COUNTS = ROOT / ".ci" / "counts.py"
SAMPLE = """
import pytest

def test_ok(): pass
def test_ok_too(): pass
def test_bad(): assert False
def test_skipped(): pytest.skip("not here")
@pytest.fixture
def broken(): raise RuntimeError("setup")
def test_error(broken): pass
"""


def junit(tmp_path: Path, name: str) -> Path:
    (tmp_path / f"test_{name}.py").write_text(SAMPLE)
    xml = tmp_path / f"{name}.xml"
    argv = [sys.executable, "-m", "pytest", str(tmp_path / f"test_{name}.py"), f"--junitxml={xml}", "-q"]
    subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=60)  # fails: test_bad
    return xml


def counts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(COUNTS), *args], capture_output=True, text=True, timeout=30)


def test_counts_each_env_and_the_total(tmp_path):
    began = time.time() - 1
    unit, browser = junit(tmp_path, "unit"), junit(tmp_path, "browser")
    res = counts(str(began), str(unit), str(browser), str(tmp_path / "never-written.xml"))
    assert res.returncode == 0, res.stderr
    rows = {ln.split()[0]: ln.split()[1:] for ln in res.stdout.splitlines()[2:]}
    assert res.stdout.splitlines()[0] == "tests that ran (junit XML of 2 envs):"
    each = ["2", "1", "1", "1"]  # passed, failed, errors, skipped
    assert rows == {"browser": each, "unit": each, "total": ["4", "2", "2", "2"]}


def test_a_file_from_before_the_run_is_not_counted(tmp_path):
    old = junit(tmp_path, "old")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    res = counts(str(time.time() - 60), str(old))
    assert res.returncode == 0 and "of 0 envs" in res.stdout and "old" not in res.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    assert counts("yesterday").returncode == 2
    garbage = tmp_path / "x.xml"
    garbage.write_text("not xml")
    res = counts("0", str(garbage))
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1 and "is not a junit file" in res.stderr
