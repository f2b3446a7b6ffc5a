"""The ssh driver's declaration (registered in pyproject.toml's ``lrmatrix.drivers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.drivers.registry import Driver, report_residue
from lrmatrix.errors import BadInput

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
        from lrmatrix.drivers.ssh.changes import leftover_runs
        from lrmatrix.drivers.ssh.node import SshNode  # needs paramiko
        from lrmatrix.run.actions.package_upgrade import still_running

        where = f"{node.scheme}://{node.path}"
        if node.options.get("allow_disruption") != "true":
            raise BadInput("recovering an existing node restarts its dockerd; pass --allow-disruption")
        names = leftover_runs(SshNode(matrix.cells[0], node))
        for name in names:
            run = SshNode(matrix.cell(name), node)
            owner = run.live_harness()
            if owner:
                raise BadInput(f"the {name} run on {where} is still in progress ({owner}); let it finish")
            running = still_running(run, run.work_dir)
            if running:
                raise BadInput(
                    f"the {name} run's upgrade command `{running[0][:80]}` still runs on {where}; "
                    "recover once it has ended (a package manager stopped half-way breaks the node)"
                )
            print(f"undoing the unfinished {name} run on {where}, started by {run.recorded_by()}")
            run.destroy()
            others = run.other_containers()  # the node's own containers, from the record
            for line in others.summary() if others is not None else []:
                print(f"  {line}")
            if report_residue(run.residue()) or (others is not None and others.not_back()):
                return 1
        return 0 if names else None
