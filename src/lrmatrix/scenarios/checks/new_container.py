"""What the daemon gave new containers after the restart: an address of their own, and a
restored container's published port refused (TestDaemonRestartRestoreBridgeNetwork)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.new_container import NewContainers
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: docker's words for a published port that is taken, shortest first
REFUSALS = {
    "port is already allocated": "already allocated",
    "address already in use": "address in use",
}


def address_seen(rec: NewContainers) -> Seen:
    detail = f"new: {rec.new_ip or rec.new_said}; restored: " + ", ".join(
        f"{n} {ip or '-'}" for n, ip in sorted(rec.old_ips.items())
    )
    if not rec.new_ip:
        return Seen("no address", detail)
    return Seen("old address reused" if rec.new_ip in rec.old_ips.values() else "new address", detail)


def port_seen(rec: NewContainers) -> Seen:
    detail = f"docker run -p {rec.port}: rc {rec.port_rc} {rec.port_said}".strip()
    if rec.port_rc == 0:
        return Seen("published", detail)
    word = next((w for text, w in REFUSALS.items() if text in rec.port_said), "refused otherwise")
    return Seen(word, detail)


@registry.check("new-container-address", phase="after")
def new_container_address(ctx: Context) -> Seen:
    """A new container's bridge address: a new one, or a restored container's given again."""
    return address_seen(ctx.evidence.require(NewContainers))


@registry.check("old-port-refused", phase="after")
def old_port_refused(ctx: Context) -> Seen:
    """``docker run -p`` of a restored container's node port: "already allocated", or published."""
    return port_seen(ctx.evidence.require(NewContainers))
