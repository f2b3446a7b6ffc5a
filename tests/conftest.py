"""Shared helpers for the harness's own tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def engine_ready() -> str | None:
    """Why engine-node tests cannot run here, or None when they can (root + docker.io)."""
    if os.geteuid() != 0:
        return "needs root"
    for cmd in ("dockerd", "iptables", "ip", "nsenter"):
        if shutil.which(cmd) is None:
            return f"{cmd} is not installed"
    return None


@pytest.fixture
def root_dir() -> Path:
    return ROOT
