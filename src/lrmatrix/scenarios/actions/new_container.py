"""After the restart, new containers beside the restored ones (TestDaemonRestartRestoreBridgeNetwork):
one on the bridge, whose address must not be a restored container's, and one asking for a
restored container's published port, which must be refused. docs/scenarios.md#new-container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Deployed, Record
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry
from lrmatrix.workload.containers import NAME_PREFIX
from lrmatrix.workload.snapshot import Snapshot

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: the new containers' names (the teardown removes them by the cell's label, as the workload's)
ON_BRIDGE = f"{NAME_PREFIX}new-bridge"
ON_PORT = f"{NAME_PREFIX}new-port"


@dataclass(frozen=True)
class NewContainers(Record):
    """The restored containers' addresses, the new one's, and what ``docker run -p`` of a
    restored container's port said (its exit code and its last line)."""

    old_ips: dict[str, str]
    new_ip: str
    new_said: str
    port: int
    port_rc: int
    port_said: str


@registry.action
@dataclass(frozen=True)
class RunNewContainers(Action):
    """Two new containers made as the workload's own once the daemon is back: one publishing
    nothing (its bridge address), one asking for the first workload container's node port."""

    name: ClassVar[str] = "run-new-containers"

    def run(self, ctx: Context) -> list[Record]:
        workload = ctx.evidence.require(Deployed).workload
        cli = ctx.node.dockerd.cli
        # the addresses the containers had before the disruption, as upstream's test takes them
        before = ctx.evidence.last(Snapshot, which="before")
        old = {c.name: c.ip for c in (before.containers if before is not None else workload.snapshot())}
        port = workload.ports[0]
        # the workload's own docker run (config mounts, label: the teardown removes them too)
        publishing = workload.run_args(ON_PORT, port)
        bridge = cli(*unpublished(workload.run_args(ON_BRIDGE, port)))
        new_ip = cli_ip(ctx, ON_BRIDGE) if bridge.ok else ""
        taken = cli(*publishing)
        said = "" if taken.ok else taken.one_line()  # docker's reason, not its usage hint
        return [
            NewContainers(old, new_ip, "" if bridge.ok else bridge.one_line(), port, taken.rc, said),
            ctx.event(
                "new containers run", f"bridge: {new_ip or bridge.one_line()}; port {port}: {taken.rc}"
            ),
        ]

    def describe(self, cell: Cell) -> str:
        return (
            "run a new container on the bridge (its address) and one publishing the first "
            "workload container's node port (refused or not)"
        )


def unpublished(args: list[str]) -> list[str]:
    """``docker run`` arguments without their ``-p`` pair: the container publishes nothing."""
    at = args.index("-p")
    return [*args[:at], *args[at + 2 :]]


def cli_ip(ctx: Context, name: str) -> str:
    """The container's address on the default bridge."""
    res = ctx.node.dockerd.cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)
    if not res.ok:
        raise NodeError(f"docker inspect {name} failed on {ctx.node.name}: {res.one_line()}")
    return res.stdout.strip()
