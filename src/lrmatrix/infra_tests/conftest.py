"""The built-in checks run against one cell; their fixtures (``host``, ``cell``, ``node``,
``evidence``, ...) come from the lrmatrix pytest plugin (``lrmatrix.run.fixtures``)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the scenario checks: collected only for a scenario cell (``lrmatrix.matrix.scenarios``)
SCENARIO_CHECKS = "test_7_scenario.py"


def pytest_collection_modifyitems(config, items):
    """These are node checks of one cell: without --cell they would all skip and 'pass'."""
    if not config.getoption("--cell"):
        pytest.exit("infra_tests run against one cell: add --cell CELL (see `lrmatrix cells`)", returncode=2)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A cell without a scenario has no scenario checks: none is collected, none skipped."""
    if collection_path.name != SCENARIO_CHECKS:
        return None
    from lrmatrix.run.fixtures import KEY

    runner = config.stash.get(KEY, None)
    return True if runner is None or runner.cell.scenario is None else None
