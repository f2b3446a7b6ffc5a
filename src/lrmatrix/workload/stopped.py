"""Which of a workload's containers the daemon has left stopped for good: neither running nor
restarting, so no restart policy will start them again.

The waits for recovery stop waiting for those (a container that died in the outage otherwise
costs each wait its whole ``recover_timeout_s``: 60 s of a respawn race's cell). Pods are left
out: the kubelet replaces a stopped container with a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.workload.containers import Workload
from lrmatrix.workload.observed import ObservedContainers

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node

#: how often a wait for recovery asks the daemon which containers it left stopped
STOPPED_CHECK_S = 1.0

#: one line per container: its name, whether it runs, whether a restart policy is restarting it
STATE = "{{.Name}} {{.State.Running}} {{.State.Restarting}}"


def stopped_for_good(node: Node, names: list[str]) -> set[str]:
    """The containers among ``names`` the daemon reports neither running nor restarting, or
    removed; none when the daemon does not answer (it may yet start them)."""
    if not names:
        return set()
    res = node.dockerd.cli("inspect", "--format", STATE, *names)
    seen: dict[str, bool] = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            seen[parts[0].lstrip("/")] = parts[1] == "true" or parts[2] == "true"
    if not seen and "No such" not in res.stderr:  # no answer from the daemon at all
        return set()
    return {name for name in names if not seen.get(name, False)}


def left_stopped(workload: object) -> set[str]:
    """``stopped_for_good`` for the harness's own containers and the user's observed ones."""
    if isinstance(workload, (Workload, ObservedContainers)):
        return stopped_for_good(workload.node, workload.names)
    return set()
