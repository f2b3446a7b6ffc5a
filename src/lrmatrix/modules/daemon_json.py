"""daemon.json handling: merge only ``live-restore``, keep every other key, restore byte-exact.

Users' daemon.json files carry settings we must not disturb (registry mirrors, log options,
minikube's own keys), so the harness never rewrites the file from a template: it parses,
changes one key, and keeps the original bytes to put back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lrmatrix.errors import BadInput

KEY = "live-restore"
CONFLICTING_FLAG = "--live-restore"


def parse(raw: bytes | None, where: str = "daemon.json") -> dict[str, Any]:
    """Parse daemon.json; a missing or empty file is an empty config, as dockerd treats it."""
    if raw is None or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{where} is not valid JSON ({exc}); fix it before running a cell") from exc
    if not isinstance(data, dict):
        raise BadInput(f"{where} must hold a JSON object, found {type(data).__name__}")
    return data


def render(config: dict[str, Any]) -> bytes:
    """Serialise the way dockerd's docs show it: 2-space indent, trailing newline."""
    return (json.dumps(config, indent=2) + "\n").encode()


def merge_live_restore(raw: bytes | None, enabled: bool, where: str = "daemon.json") -> bytes:
    """Return daemon.json with only ``live-restore`` set; other keys keep their order and values."""
    config = parse(raw, where)
    config[KEY] = enabled
    return render(config)


def check_flags(dockerd_cmdline: list[str]) -> None:
    """dockerd refuses to start when an option is both a flag and a daemon.json key."""
    for arg in dockerd_cmdline:
        if arg == CONFLICTING_FLAG or arg.startswith(CONFLICTING_FLAG + "="):
            raise BadInput(
                f"dockerd already runs with {arg}; remove the flag (e.g. minikube "
                f"--docker-opt) so daemon.json can own live-restore"
            )


@dataclass(frozen=True)
class Backup:
    """The original daemon.json bytes (``None``: there was no file) to restore at teardown."""

    path: str
    original: bytes | None


def preserved_keys(original: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Keys other than live-restore that changed or vanished; empty means the merge was clean."""
    return sorted(k for k in original if k != KEY and current.get(k, object()) != original[k]) + sorted(
        k for k in current if k != KEY and k not in original
    )
