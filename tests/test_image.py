"""Which Debian packages the offline nginx image is built from, across releases."""

from __future__ import annotations

import subprocess

import pytest

from lrmatrix.errors import EnvironmentProblem
from lrmatrix.workload import image


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
