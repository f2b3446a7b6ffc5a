"""daemon.json changed while the daemon was down: which of the new options the restarted daemon
applied (the bridge's address, the log driver of old and new containers, the address pool of a
new network)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.daemonconfig import DaemonJsonChanged, NetworkMade
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context


def _changed(ctx: Context, key: str) -> tuple[object, object]:
    change = ctx.evidence.require(DaemonJsonChanged).changed
    if key not in change:
        raise NodeError(f"change-daemon-json did not change {key} (give it that param)")
    return change[key]


@registry.check("bridge-address", phase="after")
def bridge_address(ctx: Context) -> Seen:
    """Which bip the default bridge has after the restart ("new bip", or "old bip kept")."""
    old, new = _changed(ctx, "bip")
    gateway = ctx.node.dockerd.cli(
        "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}{{end}}", "bridge"
    )
    seen = gateway.stdout.strip()
    detail = f"daemon.json bip {old} -> {new}; the bridge network: {seen or gateway.one_line()}"
    for word, bip in (("new bip", new), ("old bip kept", old)):
        iface = ipaddress.IPv4Interface(str(bip))
        if seen == f"{iface.ip} {iface.network}":
            return Seen(word, detail)
    return Seen("other", detail)


@registry.check("log-driver-split", phase="after")
def log_driver_split(ctx: Context) -> Seen:
    """The daemon's log driver after the restart and the workload containers' (created before)."""
    _changed(ctx, "log-driver")
    cli = ctx.node.dockerd.cli
    default = cli("info", "-f", "{{.LoggingDriver}}").stdout.strip() or "unknown"
    names = [c.name for c in ctx.evidence.require(Deployed).workload.snapshot()]
    kinds = sorted(
        {cli("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", n).stdout.strip() or "gone" for n in names}
    )
    return Seen(f"daemon {default}, workload {'+'.join(kinds)}", f"containers {', '.join(names)}")


@registry.check("address-pool", phase="after")
def address_pool(ctx: Context) -> Seen:
    """Where a network made after the restart got its subnet ("new pool", "old pool", "refused")."""
    _, pools = _changed(ctx, "default-address-pools")
    made = ctx.evidence.require(NetworkMade)
    if made.error:
        return Seen("refused", made.error)
    base = ipaddress.IPv4Network(pools[0]["base"])  # type: ignore[index]
    subnet = ipaddress.IPv4Network(made.subnet.split()[0])
    return Seen(
        "new pool" if subnet.subnet_of(base) else "old pool", f"subnet {made.subnet}; new pool {base}"
    )
