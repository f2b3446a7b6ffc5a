"""Where the probe sends its requests: every endpoint of every container, per access path.

``node``: the node's address and a published port (what a client outside the node uses);
from inside the node's network namespace, ``loopback`` (127.0.0.1, through docker-proxy) and
``pod`` (the container's own address). A node may add paths of its own (minikube: the API
server's /readyz).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.evidence.probe import Target
from lrmatrix.workload.containers import ENDPOINTS, Workload

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.evidence.records import Deployed


def targets(node: Node, deployed: Deployed) -> dict[str, list[Target]]:
    """Per access path, its targets, endpoint-major: the probe groups them by container address
    and sends each container one request per tick (50 ms by default), cycling its endpoints."""
    workload = deployed.workload
    ports = workload.ports
    # the container each address belongs to ("" behind a shared one: a NodePort)
    owners = workload.names if isinstance(workload, Workload) else [""] * len(ports)
    paths = {"node": [(f"{node.address}:{port}", who) for port, who in zip(ports, owners, strict=True)]}
    if node.loopback_netns():
        paths["loopback"] = [(f"127.0.0.1:{port}", who) for port, who in zip(ports, owners, strict=True)]
        if deployed.pod_ips:
            paths["pod"] = [(f"{ip}:80", deployed.pod_names.get(ip, "")) for ip in deployed.pod_ips]
    found = {
        path: [
            Target(f"http://{where}{ep.path}", ep.expect, container=who)
            for ep in ENDPOINTS
            for where, who in places
        ]
        for path, places in paths.items()
    }
    return found | node.api_targets()


def netns_for(node: Node) -> dict[str, str]:
    """Paths probed from inside the node's network namespace."""
    ns = node.loopback_netns()
    return {"loopback": ns, "pod": ns} if ns else {}
