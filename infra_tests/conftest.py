"""Binds testinfra's ``host`` fixture to the cell's node (see lrmatrix.plugin for ``--cell``)."""

from __future__ import annotations

import pytest
import testinfra.host


@pytest.fixture(scope="session")
def host(lrm_scenario):
    """testinfra host whose commands run on the node (the engine node's namespace, ssh, ...)."""
    return testinfra.host.Host(lrm_scenario.node.testinfra_backend())


@pytest.fixture(scope="session")
def cell(lrm_scenario):
    return lrm_scenario.cell


@pytest.fixture(scope="session")
def node(lrm_scenario):
    return lrm_scenario.node
