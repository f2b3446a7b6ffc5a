"""Where the probe sends its requests: every endpoint of every container, per access path.

``node``: the node's address and a published port (what a client outside the node uses; on
Kubernetes, the NodePort each endpoint's Service gives);
from inside the node's network namespace, ``loopback`` (127.0.0.1, through docker-proxy) and
``pod`` (the container's own address). A node may add paths of its own (minikube: the API
server's /readyz).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.evidence.probe import Target
from lrmatrix.workload.containers import Workload

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.evidence.records import Deployed
    from lrmatrix.workload.spec import Endpoint


def targets(node: Node, deployed: Deployed) -> dict[str, list[Target]]:
    """Per access path, its targets, endpoint-major: the probe groups them by container address
    and sends each container one request per tick (50 ms by default), cycling its endpoints."""
    workload = deployed.workload
    spec = workload.spec
    if spec.observe is not None:  # the user's containers: each endpoint on the node port it names
        found = [
            t
            for e in spec.endpoints
            for t in endpoint_targets(
                (e,), [(f"{node.address}:{e.port}", workload.owners.get(e.port, ""))], spec.identify
            )
        ]
        return {"node": found} | node.api_targets()
    ports = workload.ports
    # the container each address belongs to ("" behind a shared one: a NodePort)
    owners = workload.names if isinstance(workload, Workload) else [""] * len(ports)
    paths = {"node": [(f"{node.address}:{port}", who) for port, who in zip(ports, owners, strict=True)]}
    if node.loopback_netns():
        paths["loopback"] = [(f"127.0.0.1:{port}", who) for port, who in zip(ports, owners, strict=True)]
        if deployed.pod_ips:
            paths["pod"] = [(f"{ip}:{spec.port}", deployed.pod_names.get(ip, "")) for ip in deployed.pod_ips]
    found = {path: endpoint_targets(spec.endpoints, places, spec.identify) for path, places in paths.items()}
    if any(ep.node_port for ep in spec.endpoints):  # Kubernetes: each on its Service's NodePort
        found["node"] = [
            t
            for ep in spec.endpoints
            for t in endpoint_targets((ep,), [(f"{node.address}:{ep.node_port}", "")], spec.identify)
        ]
    return found | node.api_targets()


def endpoint_targets(
    endpoints: tuple[Endpoint, ...], places: list[tuple[str, str]], identify: str
) -> list[Target]:
    """Endpoint-major targets at ``places`` (address, container): HTTP endpoints as URLs of the
    address, TCP ones as ``tcp://address``; the header names the container only if the
    workload has one (the address always does, where it belongs to one container)."""
    return [
        Target(
            f"tcp://{where}" if ep.tcp else f"http://{where}{ep.path}",
            ep.expect,
            container=who,
            status=ep.status,
            send=f"{ep.send}\r\n" if ep.send else "",  # a line, as a TCP service reads one
            identify=identify,
        )
        for ep in endpoints
        for where, who in places
    ]


def netns_for(node: Node) -> dict[str, str]:
    """Paths probed from inside the node's network namespace."""
    ns = node.loopback_netns()
    return {"loopback": ns, "pod": ns} if ns else {}
