"""tox.ini and matrix/ must name the same cells: one tox env per cell, same name."""

from __future__ import annotations

import subprocess
import sys

from lrmatrix.matrix import CELL_NAME, load_matrix


def tox_envs(root) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "tox", "list", "--no-desc"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()}


def test_every_cell_has_a_tox_env_and_every_cell_env_is_a_cell(root_dir):
    cells = set(load_matrix(root_dir / "matrix").names())
    envs = {e for e in tox_envs(root_dir) if CELL_NAME.match(e)}
    assert cells - envs == set(), f"cells without a tox env: {sorted(cells - envs)}"
    assert envs - cells == set(), f"tox envs that are no cell: {sorted(envs - cells)}"
