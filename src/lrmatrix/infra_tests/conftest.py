"""The built-in checks run against one cell; their fixtures (``host``, ``cell``, ``node``,
``evidence``, ...) come from the lrmatrix pytest plugin (``lrmatrix.run.fixtures``)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    """These are node checks of one cell: without --cell they would all skip and 'pass'."""
    if not config.getoption("--cell"):
        pytest.exit("infra_tests run against one cell: add --cell CELL (see `lrmatrix cells`)", returncode=2)
