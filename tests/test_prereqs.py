"""A missing prerequisite: a skip naming what to install outside CI, a failed run under CI=true."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import prereqs
from conftest import ROOT

CI_LINE = (
    "CI=true and a prerequisite is missing: "
    "systemd staging node: debootstrap is not installed (apt-get install debootstrap)"
)


@pytest.mark.parametrize(
    ("value", "ci"), [("true", True), ("1", True), ("TRUE", True), ("", False), ("false", False)]
)
def test_ci_is_read_from_the_environment(monkeypatch, value, ci):
    monkeypatch.setenv("CI", value)
    assert prereqs.in_ci() is ci


def test_outside_ci_a_missing_prerequisite_is_a_skip_naming_it(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    reason = "chromium is not installed (apt-get install chromium)"
    with pytest.raises(pytest.skip.Exception) as skipped:
        prereqs.require(reason)
    assert skipped.value.msg == reason
    prereqs.require(None)  # nothing missing: nothing happens


def test_under_ci_a_missing_prerequisite_is_a_failure_naming_it(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and a prerequisite is missing: sshd is gone"):
        prereqs.require("sshd is gone")
    prereqs.require(None)


def test_a_missing_module_names_what_to_install(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert prereqs.import_module("json", "never needed").dumps(1) == "1"
    with pytest.raises(pytest.skip.Exception, match=r"lrm_nope is not installed \(pip install it\)"):
        prereqs.import_module("lrm_nope", "pip install it")


def test_a_missing_command_names_its_package():
    assert prereqs.command("sh", "dash") is None
    assert prereqs.command("lrm-no-such-command", "lrm-pkg") == (
        "lrm-no-such-command is not installed (apt-get install lrm-pkg)"
    )


def test_the_ci_line_counts_the_tests_each_prerequisite_hides():
    line = prereqs.ci_line(Counter({"debootstrap is not installed": 15, "chromium is not installed": 1}))
    assert line == (
        "CI=true and a prerequisite is missing: debootstrap is not installed (15 tests); "
        "chromium is not installed (1 test)"
    )


def without(command: str, tmp_path: Path) -> str:
    """A PATH with every command of this one except ``command``: symlinks in one folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            link = bin_dir / entry.name
            if entry.name != command and not link.exists() and not link.is_symlink():
                link.symlink_to(entry)
    return str(bin_dir)


def collect_systemd_tests(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "tests/integration", "-m", "integration", "-q", "-rs"]
    argv += ["-k", "systemd and not upgrade", "-p", "no:cacheprovider"]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", [True, False], ids=["CI", "not-CI"])
def test_a_hidden_debootstrap_fails_ci_in_one_line_and_is_a_named_skip_elsewhere(tmp_path, ci):
    """The systemd staging node's tests, with debootstrap off PATH: under CI=true the run fails
    before any test starts, naming it; outside CI they are skipped, each naming it."""
    prereqs.require(prereqs.engine_ready())  # root: without it the node's reason is "needs root"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = without("debootstrap", tmp_path)
    if ci:
        env["CI"] = "true"
    res = collect_systemd_tests(env)
    out = res.stdout + res.stderr
    if ci:
        assert res.returncode == 1, out
        lines = [ln for ln in out.splitlines() if CI_LINE in ln]
        assert len(lines) == 1, out
        assert " passed" not in out and " skipped" not in out, out
    else:
        assert res.returncode == 0, out
        assert " passed" not in out and "skipped" in out, out
        assert "systemd staging node: debootstrap is not installed (apt-get install debootstrap)" in out, out


def test_tox_passes_ci_on_to_the_test_envs():
    """tox passes only listed variables: without CI in pass_env, .ci/run's CI=true never reached
    pytest and every prerequisite check stayed a skip."""
    tests = ("integration", "integration-interrupts", "integration-faults", "integration-nodes")
    tests += ("integration-scenarios",)
    envs = ",".join(["unit", *tests, "integration-nodes-systemd", "browser"])
    argv = [sys.executable, "-m", "tox", "config", "-e", envs, "-k", "pass_env"]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    sections = res.stdout.split("[testenv:")[1:]
    assert len(sections) == 8 and all("\n  CI\n" in s for s in sections), res.stdout


def test_children_of_this_session_get_sigint_as_from_a_terminal():
    """Whoever started this session, a child it starts (a cell, tox) is interrupted by SIGINT."""
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    assert subprocess.check_output([sys.executable, "-c", probe], text=True, timeout=30).strip() == "False"


def test_a_session_started_with_sigint_ignored_delivers_it_again():
    """As a backgrounded `.ci/run` starts it (SIGINT ignored): the check above still holds."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_prereqs.py"]
    argv += ["-k", "test_children_of_this_session_get_sigint_as_from_a_terminal"]

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    res = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=ignore_sigint
    )
    assert res.returncode == 0 and "1 passed" in res.stdout, res.stdout + res.stderr
