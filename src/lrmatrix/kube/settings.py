"""Kubernetes-only settings from ``matrix/matrix.toml`` (tables the cell loader ignores).

They are not per-cell data (the cell model stays engine-neutral), so they are read here,
next to the code that uses them; environment variables override for one machine.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lrmatrix import parsed
from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import find_matrix_dir


def matrix_table(name: str, folder: Path | None = None) -> dict[str, Any]:
    """``[name]`` of matrix.toml, or ``{}``; the file itself was validated by the loader."""
    file = (folder or find_matrix_dir()) / "matrix.toml"
    table = parsed.toml(file.read_text()).get(name, {})
    if not isinstance(table, dict):
        raise BadInput(f"{file}: [{name}] must be a table")
    return table


def project_dir(folder: Path | None = None) -> Path:
    return (folder or find_matrix_dir()).parent


@dataclass(frozen=True)
class KubeSettings:
    """Timings and names of the Kubernetes steps (seconds)."""

    namespace_prefix: str = "lrm-"
    node_poll_s: float = 2.0
    rollout_timeout_s: float = 300.0
    pending_timeout_s: float = 300.0

    @classmethod
    def load(cls, folder: Path | None = None) -> KubeSettings:
        data = matrix_table("kubernetes", folder)
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise BadInput(f"matrix.toml [kubernetes]: unknown key {unknown[0]!r}; known: {', '.join(known)}")
        return cls(**data)

    def namespace(self, cell_name: str) -> str:
        return f"{self.namespace_prefix}{cell_name}"
