"""Observe mode: the user's own running containers as the cell's workload (ssh nodes).

They were recorded before anything changed (``drivers/ssh/observed``); here they are the handle
the run's actions and checks use instead of ``Workload``: names, IDs, a node port per container
where identity allows, snapshots. Nothing here creates, changes or removes a container.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lrmatrix.workload.containers import inspect_containers

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.workload.containers import ContainerState
    from lrmatrix.workload.spec import WorkloadSpec

#: why a check that would act on a container skips in observe mode
OBSERVED = "observe mode: the harness runs, stops and changes nothing in the user's containers"


@dataclass
class ObservedContainers:
    """The observed containers, by ID (a name can be given to another container meanwhile)."""

    node: Node
    spec: WorkloadSpec
    ids: list[str]
    names: list[str]
    #: node port -> the one observed container publishing it (a port no observed container
    #: publishes, or more than one, names none: its answers are not told apart)
    owners: dict[int, str] = field(default_factory=dict)
    #: the first container's image: what the outage checks name in a `docker run` that must fail
    image: str = ""

    @classmethod
    def find(cls, node: Node, spec: WorkloadSpec, ids: list[str]) -> ObservedContainers:
        """The recorded containers as they are now: their names, image and published ports."""
        items = node.dockerd.inspect(*ids)
        return cls(
            node,
            spec,
            [i["Id"] for i in items],
            [str(i["Name"]).lstrip("/") for i in items],
            owners(items),
            str(items[0].get("Image", "")) if items else "",
        )

    @property
    def ports(self) -> list[int]:
        """Per container, the node port of its own that an endpoint names (0: none)."""
        endpoint_ports = [e.port for e in self.spec.endpoints]
        return [next((p for p in endpoint_ports if self.owners.get(p) == name), 0) for name in self.names]

    def snapshot(self) -> list[ContainerState]:
        return inspect_containers(self.node, self.ids, self.ports or [0])

    def identity(self) -> str:
        """How the probe tells the containers apart, in one sentence for the result."""
        said = []
        for e in self.spec.endpoints:
            who = self.owners.get(e.port, "")
            said.append(f"{e.label()} on node port {e.port}: " + (who or "no one container (not told apart)"))
        header = f"; the {self.spec.identify} header names the container" if self.spec.identify else ""
        return "per node port: " + "; ".join(said) + header


def owners(items: list[dict[str, Any]]) -> dict[int, str]:
    """Node port -> container name, for each port exactly one of ``items`` publishes."""
    by_port: dict[int, set[str]] = defaultdict(set)
    for item in items:
        ports = (item.get("NetworkSettings") or {}).get("Ports") or {}
        for bindings in ports.values():
            for b in bindings or []:
                if str(b.get("HostPort", "")).isdigit():
                    by_port[int(b["HostPort"])].add(str(item["Name"]).lstrip("/"))
    return {port: next(iter(names)) for port, names in by_port.items() if len(names) == 1}
