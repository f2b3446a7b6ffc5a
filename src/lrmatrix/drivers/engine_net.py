"""Network plumbing for engine nodes: one namespace + veth pair per node, in 198.18.0.0/15.

Slots are claimed with ``ip netns add``, which fails if the name exists, so two cells started
at once (``tox -p``) never get the same namespace, address or bridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lrmatrix.errors import EnvironmentProblem, NodeError
from lrmatrix.process import run

PREFIX = "lrm"
NETNS_DIR = Path("/run/netns")
MAX_SLOTS = 250


@dataclass(frozen=True)
class Slot:
    """Everything derived from a slot number: names, addresses, the node's Docker bridge."""

    index: int

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.index}"

    @property
    def netns_path(self) -> str:
        return str(NETNS_DIR / self.name)

    @property
    def host_if(self) -> str:
        return f"{self.name}h"

    @property
    def node_if(self) -> str:
        return f"{self.name}n"

    @property
    def host_addr(self) -> str:
        return f"198.18.{self.index}.1"

    @property
    def node_addr(self) -> str:
        return f"198.18.{self.index}.2"

    @property
    def bip(self) -> str:
        return f"198.19.{self.index}.1/24"

    def addresses(self) -> set[str]:
        return {self.host_addr, self.node_addr, self.bip.split("/")[0]}


def _ip(*args: str) -> None:
    res = run(["ip", *args], timeout=15)
    if res.returncode != 0:
        raise NodeError(f"ip {' '.join(args)} failed: {res.stderr.strip() or res.returncode}")


def addresses_in_use() -> set[str]:
    """IPv4 addresses configured on this machine's interfaces (host namespace)."""
    res = run(["ip", "-o", "-4", "addr", "show"], timeout=15)
    return {part.split("/")[0] for line in res.stdout.splitlines() for part in line.split()[3:4]}


def claim_slot() -> Slot:
    """Claim the lowest free slot; skip any whose addresses someone already uses."""
    used = addresses_in_use()
    for index in range(1, MAX_SLOTS + 1):
        slot = Slot(index)
        if Path(slot.netns_path).exists() or slot.addresses() & used:
            continue
        res = run(["ip", "netns", "add", slot.name], timeout=15)
        if res.returncode == 0:
            return slot
        if "File exists" not in res.stderr:
            raise EnvironmentProblem(f"cannot create a network namespace: {res.stderr.strip()}")
    raise EnvironmentProblem(f"all {MAX_SLOTS} engine node slots are taken; run `lrmatrix recover`")


def wire(slot: Slot) -> None:
    """veth pair host<->node, addresses, links up; the caller releases the slot on failure."""
    _ip("link", "add", slot.host_if, "type", "veth", "peer", "name", slot.node_if)
    _ip("link", "set", slot.node_if, "netns", slot.name)
    _ip("addr", "add", f"{slot.host_addr}/24", "dev", slot.host_if)
    _ip("link", "set", slot.host_if, "up")
    _ip("-n", slot.name, "addr", "add", f"{slot.node_addr}/24", "dev", slot.node_if)
    _ip("-n", slot.name, "link", "set", slot.node_if, "up")
    _ip("-n", slot.name, "link", "set", "lo", "up")


def release(slot: Slot) -> None:
    """Remove veth and namespace; deleting either end of a veth deletes both. Idempotent."""
    run(["ip", "link", "del", slot.host_if], timeout=15)
    if Path(slot.netns_path).exists():
        run(["ip", "netns", "del", slot.name], timeout=15)


def leftover_slots() -> list[Slot]:
    """Namespaces named like ours, e.g. after the harness was killed with SIGKILL."""
    if not NETNS_DIR.is_dir():
        return []
    found = []
    for entry in NETNS_DIR.iterdir():
        suffix = entry.name.removeprefix(PREFIX)
        if entry.name.startswith(PREFIX) and suffix.isdigit():
            found.append(Slot(int(suffix)))
    return sorted(found, key=lambda s: s.index)
