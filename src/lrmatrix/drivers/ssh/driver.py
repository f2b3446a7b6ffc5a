"""The ssh driver's declaration (registered in pyproject.toml's ``lrmatrix.drivers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.drivers.registry import Driver

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.drivers.spec import NodeSpec
    from lrmatrix.matrix.model import Matrix


class SshDriver(Driver):
    """An existing Docker host of yours, reached with paramiko: cells that need such a node
    (`tox -e CELL -- --node ssh://… --allow-disruption`), or any cell pointed at one."""

    scheme = "ssh"
    extras = ("ssh",)
    tox_labels = ("ssh",)
    recovers_by_name = True

    @classmethod
    def node_class(cls) -> type[Node]:
        from lrmatrix.drivers.ssh.node import SshNode  # needs paramiko

        return SshNode

    @classmethod
    def recover(cls, matrix: Matrix, node: NodeSpec | None) -> int | None:
        """The runs on ``node`` whose harness died, from the record each keeps on the node."""
        if node is None:
            return None  # nothing of an ssh node is kept on this machine
        from lrmatrix.drivers.ssh.changes import recover

        return recover(matrix, node)
