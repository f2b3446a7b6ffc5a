"""tox plugin of this checkout: the package's own (lrmatrix.tox_envs: one tox env per cell of
matrix/matrix.toml, named like the cell, and interrupts passed on to the cells), loaded from the
checkout's sources, plus this repository's CI order.

The installed package brings the same plugin through its ``tox`` entry point; registered here
under that entry point's name first (tox loads toxfile.py before the entry points, and pluggy
skips an entry point whose name is taken), it runs once, from these sources, whether tox runs
from a virtualenv with lrmatrix installed or from one without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tox.plugin.manager import MANAGER

ROOT = Path(__file__).resolve().parent
# the checkout's sources: tox itself may run from a virtualenv without lrmatrix installed
sys.path.insert(0, str(ROOT / "src"))

from lrmatrix import tox_envs  # noqa: E402

#: the entry point's name ([project.entry-points.tox] in pyproject.toml)
ENTRY_POINT = "lrmatrix"

tox_envs.PROJECT.root = ROOT  # the cells run this checkout's package ([testenv] package = wheel)
#: harness envs that read every cell's result, so they run after the cells
tox_envs.PROJECT.after_cells = ("report", "upgrade-gate")
#: harness envs that load the machine for minutes: run together with them (`tox -m ci -p 2`),
#: the cells wait for them, so that the figures the gate compares are not the load's (a cell
#: beside them on 2 cores lost 8 % of its probe coverage and the gate called it a regression)
tox_envs.PROJECT.before_cells = ("integration", "integration-interrupts", "integration-faults",
                                 "integration-nodes", "integration-nodes-systemd",
                                 "integration-scenarios")  # fmt: skip

#: two engine cells at once once the integration envs are done: their probes kept >= 97 % coverage
#: side by side on the 2-core machine (docs/performance.md), where one after another left one
#: lane idle for the ~400 s of cells; three side by side starved them (86 %)
tox_envs.PROJECT.cells_side_by_side = 2

if MANAGER.manager.get_plugin(ENTRY_POINT) is None and not MANAGER.manager.is_registered(tox_envs):
    MANAGER.manager.register(tox_envs, name=ENTRY_POINT)
