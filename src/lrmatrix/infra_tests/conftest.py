"""Binds testinfra's ``host`` fixture to the cell's node (see lrmatrix.plugin for ``--cell``)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    """These are node checks of one cell: without --cell they would all skip and 'pass'."""
    if not config.getoption("--cell"):
        pytest.exit("infra_tests run against one cell: add --cell CELL (see `lrmatrix cells`)", returncode=2)


@pytest.fixture(scope="session")
def host(lrm_scenario):
    """testinfra host whose commands run on the node (the engine node's namespace, ssh, ...),
    with the node's own modules beside testinfra's (``host.lrm_dockerd``, ``host.lrm_processes``)."""
    return lrm_scenario.node.testinfra_host()


@pytest.fixture(scope="session")
def cell(lrm_scenario):
    return lrm_scenario.cell


@pytest.fixture(scope="session")
def node(lrm_scenario):
    return lrm_scenario.node


@pytest.fixture
def held_down(lrm_scenario):
    """Checks of a daemon held down for a window: a package-upgrade cell (its commands restart
    dockerd) and a respawn cell (the service manager does) hold none: skipped, saying why."""
    if not lrm_scenario.cell.held_down:
        kind = "package-upgrade" if lrm_scenario.cell.upgrade_command else "respawn"
        pytest.skip(f"a {kind} cell: dockerd is restarted by the node itself, nothing holds it down")
