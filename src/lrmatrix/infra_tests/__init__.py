"""The built-in checks, collected for every cell (with the user's own ``infra_tests/``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from lrmatrix.workload.observed import OBSERVED

if TYPE_CHECKING:
    from lrmatrix.matrix.model import Cell


def observing(cell: Cell) -> None:
    """A check that would act on the workload's containers skips in observe mode, saying why."""
    if cell.workload is not None and cell.workload.observe is not None:
        pytest.skip(OBSERVED)
