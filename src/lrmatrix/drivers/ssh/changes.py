"""What a run changes on an ssh node and how it is undone: the record it keeps on the node
(``<work dir>/changes.json``), and ``recover`` of the runs whose harness died."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.drivers.registry import report_residue
from lrmatrix.errors import BadInput

if TYPE_CHECKING:
    from lrmatrix.drivers.spec import NodeSpec
    from lrmatrix.matrix.model import Matrix


def recover(matrix: Matrix, spec: NodeSpec) -> int | None:
    """Undo each run on the node whose harness died, from its record; None: there was none."""
    from lrmatrix.drivers.ssh.node import SshNode
    from lrmatrix.run.actions.package_upgrade import still_running

    where = f"{spec.scheme}://{spec.path}"
    if spec.options.get("allow_disruption") != "true":
        raise BadInput("recovering an existing node restarts its dockerd; pass --allow-disruption")
    names = SshNode(matrix.cells[0], spec).leftover_runs()
    for name in names:
        node = SshNode(matrix.cell(name), spec)
        owner = node.live_harness()
        if owner:
            raise BadInput(f"the {name} run on {where} is still in progress ({owner}); let it finish")
        running = still_running(node, node.work_dir)
        if running:
            raise BadInput(
                f"the {name} run's upgrade command `{running[0][:80]}` still runs on {where}; "
                "recover once it has ended (a package manager stopped half-way breaks the node)"
            )
        print(f"undoing the unfinished {name} run on {where}, started by {node.recorded_by()}")
        node.destroy()
        others = node.other_containers()  # the node's own containers, from the record
        for line in others.summary() if others is not None else []:
            print(f"  {line}")
        if report_residue(node.residue()) or (others is not None and others.not_back()):
            return 1
    return 0 if names else None
