"""daemon.json changed while the daemon is down (Docker's live-restore page: restore works only
if options such as the bridge IP and the storage driver did not change): a new ``bip``, log
driver and ``default-address-pools`` written during the outage, and a network made after the
restart to see which pool it comes from. Every address stays inside 198.18.0.0/15."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.modules import daemon_json
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: the only addresses the project may give out (RFC 2544 benchmarking)
ALLOWED = ipaddress.IPv4Network("198.18.0.0/15")
NETWORK = "lrm-scen-pool"
#: each node's pool: 198.19.<128 + n>.0/24 for the node at 198.18.<n>.x, split in /28s
POOL_OFFSET = 128
POOL_SIZE = 28


def upper_half(bip: str) -> str:
    """The bridge moved to the upper half of its own network: 198.19.1.1/24 -> 198.19.1.129/25."""
    iface = ipaddress.IPv4Interface(bip)
    if iface.network.prefixlen > 29:
        raise NodeError(f"bip {bip} is too small a network to split")
    upper = list(iface.network.subnets(1))[1]
    return f"{upper.network_address + 1}/{upper.prefixlen}"


def pool_for(address: str) -> str:
    """This node's own address pool, next to nothing else of the project's."""
    n = ipaddress.IPv4Address(address).packed[2]
    if n >= 256 - POOL_OFFSET:
        raise NodeError(f"the node at {address} has no pool of its own in {ALLOWED}")
    return f"198.19.{POOL_OFFSET + n}.0/24"


def inside(value: str) -> str:
    if not ipaddress.ip_network(value, strict=False).subnet_of(ALLOWED):
        raise NodeError(f"{value} is outside {ALLOWED}: the scenario gives out no other address")
    return value


@dataclass(frozen=True)
class DaemonJsonChanged(Record):
    """What the outage changed in daemon.json: key -> (before, after); the teardown puts the
    node's original file back."""

    changed: dict[str, tuple[Any, Any]]


@dataclass(frozen=True)
class NetworkMade(Record):
    """A user network made after the restart: its subnet, or the daemon's refusal."""

    subnet: str
    error: str = ""


@registry.action
@dataclass(frozen=True)
class ChangeDaemonJson(Action):
    """Rewrite daemon.json while the daemon is down (outage phase): its ``bip`` to the upper half
    of the bridge's network, ``log-driver`` (its ``log-opts`` dropped), and/or a
    ``default-address-pools`` of the node's own."""

    name: ClassVar[str] = "change-daemon-json"
    bip: bool = False
    log_driver: str = ""
    address_pools: bool = False

    def __post_init__(self) -> None:
        if not (self.bip or self.log_driver or self.address_pools):
            raise ValueError("name at least one of bip, log_driver, address_pools to change")

    def refuses_node(self, scheme: str) -> str | None:
        if scheme == "engine" or not (self.bip or self.address_pools):
            return None
        return (
            "change-daemon-json moves the bridge's or the pools' addresses: only on an engine node, "
            f"never in a {scheme} node's network, which is its administrator's"
        )

    def run(self, ctx: Context) -> Iterable[Record]:
        node = ctx.node
        if node.daemon_pid() is not None:
            raise NodeError("change-daemon-json runs while the daemon is down (put it in the outage phase)")
        config = daemon_json.parse(node.read_file(node.daemon_json_path), node.daemon_json_path)
        changed: dict[str, tuple[Any, Any]] = {}
        if self.bip:
            if "bip" not in config:
                raise NodeError("daemon.json has no bip to change (the engine node's has)")
            changed["bip"] = (config["bip"], inside(upper_half(config["bip"])))
        if self.log_driver:
            changed["log-driver"] = (config.get("log-driver", "json-file"), self.log_driver)
            if "log-opts" in config:
                changed["log-opts"] = (config["log-opts"], None)
        if self.address_pools:
            pools = [{"base": inside(pool_for(node.address)), "size": POOL_SIZE}]
            changed["default-address-pools"] = (config.get("default-address-pools"), pools)
        for key, (_, new) in changed.items():
            if new is None:
                config.pop(key, None)
            else:
                config[key] = new
        node.write_file(node.daemon_json_path, daemon_json.render(config))
        return [DaemonJsonChanged(changed)]

    def describe(self, cell: Cell) -> str:
        what = [
            *(["bip to the upper half of the bridge's network"] if self.bip else []),
            *([f"log-driver to {self.log_driver}"] if self.log_driver else []),
            *(
                ["default-address-pools to the node's own /24 in 198.19.128.0/17"]
                if self.address_pools
                else []
            ),
        ]
        return "while the daemon is down, change daemon.json: " + "; ".join(what)


@registry.action
@dataclass(frozen=True)
class MakeNetwork(Action):
    """``docker network create`` after the restart (removed again): which pool serves it."""

    name: ClassVar[str] = "make-network"

    def run(self, ctx: Context) -> Iterable[Record]:
        cli = ctx.node.dockerd.cli
        cli("network", "rm", NETWORK)
        made = cli("network", "create", NETWORK)
        if not made.ok:
            return [NetworkMade("", made.one_line())]
        subnet = cli("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", NETWORK)
        cli("network", "rm", NETWORK)
        return [NetworkMade(subnet.stdout.strip())]

    def describe(self, cell: Cell) -> str:
        return f"docker network create {NETWORK}, read its subnet, remove it"
