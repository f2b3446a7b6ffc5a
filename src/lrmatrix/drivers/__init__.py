"""Nodes by node-spec scheme (``engine://``, ``ssh://user@host``, ``minikube://profile``), from
the drivers registered in the ``lrmatrix.drivers`` entry-point group (``registry``), imported
lazily so a missing optional dependency (paramiko, kubernetes) only matters to the driver
that needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.drivers import registry
from lrmatrix.drivers.spec import NodeSpec
from lrmatrix.errors import BadInput

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.model import Cell

__all__ = ["NodeSpec", "make_node"]


def make_node(cell: Cell, spec: NodeSpec | None, options: dict[str, str] | None = None) -> Node:
    """The cell's own driver, unless ``--node`` names another one (ssh for staging nodes); the
    command line's options reach the driver either way."""
    if cell.needs_node and (spec is None or spec.scheme != "ssh" or not spec.host):
        what = (
            "its upgrade command with the node's own package manager"
            if cell.upgrade_command
            else "a crash that the node's own service manager answers (systemd's Restart=)"
            if cell.respawn
            else f"observe mode (the workload {cell.workload_name} watches containers already on the node)"
        )
        node = "--node ssh://user@host --allow-disruption"
        raise BadInput(f"cell {cell.name} runs {what}: name a node of yours with {node}")
    if spec is None:
        spec = NodeSpec(cell.driver, options=dict(options or {}))
    return registry.get(spec.scheme).node_class()(cell, spec)
