"""Network plumbing for engine nodes: one namespace + veth pair per node, in 198.18.0.0/15.

Slots are claimed with ``ip netns add``, which fails if the name exists, so two cells started
at once (``tox -p``) never get the same namespace, address or bridge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import filelock

from lrmatrix.errors import EnvironmentProblem, NodeError
from lrmatrix.process import run
from lrmatrix.run import setup_steps

PREFIX = "lrm"
NETNS_DIR = Path("/run/netns")
LOCK_DIR = Path("/run/lrmatrix/slots")
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

    @property
    def cgroup_name(self) -> str:
        """The node's containers' cgroup parent: every container of the node is found by it
        (``/lrmatrix-lrm1/<id>``), also once its shim, its daemon and its state folder are gone."""
        return f"lrmatrix-{self.name}"

    def networks(self) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
        return (
            ipaddress.IPv4Network(f"198.18.{self.index}.0/24"),
            ipaddress.IPv4Network(self.bip, strict=False),
        )


def _ip(*args: str) -> None:
    res = run(["ip", *args], timeout=15)
    if res.returncode != 0:
        raise NodeError(f"ip {' '.join(args)} failed: {res.stderr.strip() or res.returncode}")


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """Networks this machine already reaches directly (addresses and routes, default route
    aside): a slot whose /24s overlap one would shadow or duplicate someone's route."""
    nets = []
    addresses = run(["ip", "-o", "-4", "addr", "show"], timeout=15).stdout.splitlines()
    routes = run(["ip", "-4", "route", "show", "table", "all"], timeout=15).stdout.splitlines()
    words = [line.split()[3] for line in addresses if len(line.split()) > 3]
    # a route line starts with its destination, or with its type (local, broadcast, ...) first
    words += [w for line in routes for w in line.split()[:2]]
    for word in words:
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.IPv4Network(word, strict=False))
    return [n for n in nets if n.prefixlen > 0]


def slot_record(slot: Slot) -> Path:
    """Where a live node notes what `recover` needs to find it (its state folder)."""
    return LOCK_DIR / f"{slot.name}.json"


class SlotLock:
    """A lock held for a node's whole life: `lrmatrix recover` and other runs skip a slot
    whose lock is taken, so a live node is never mistaken for a leftover."""

    def __init__(self, slot: Slot) -> None:
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        self.slot = slot
        self._lock = filelock.FileLock(LOCK_DIR / f"{slot.name}.lock", thread_local=False)

    def try_acquire(self) -> bool:
        try:
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


def claim_slot(state_root: Path, claimed: Callable[[Slot | None, SlotLock | None], None]) -> Slot:
    """Claim the lowest free slot: not locked by a live run, no namespace or state folder left,
    no container of a former node still in its cgroup, and no overlap with a network this
    machine already uses. ``claimed`` hears of the slot and its record is written before its
    namespace is made: an interrupt at any instant leaves nothing the caller's ``destroy`` or
    `lrmatrix recover` does not know of."""
    used = networks_in_use()
    for index in range(1, MAX_SLOTS + 1):
        slot = Slot(index)
        if Path(slot.netns_path).exists() or (state_root / slot.name).exists() or cgroup_dirs(slot):
            continue
        if any(net.overlaps(mine) for net in used for mine in slot.networks()):
            continue
        lock = SlotLock(slot)
        if not lock.try_acquire():
            continue
        claimed(slot, lock)
        slot_record(slot).write_text(json.dumps({"state_root": str(state_root)}))
        setup_steps.reached("slot-recorded")
        res = run(netns_add_argv(slot), timeout=15)
        setup_steps.reached("netns-added")
        if res.returncode == 0:
            return slot
        claimed(None, None)  # a namespace someone else made meanwhile is never ours to remove
        slot_record(slot).unlink(missing_ok=True)
        lock.release()
        if "File exists" not in res.stderr:
            raise EnvironmentProblem(f"cannot create a network namespace: {res.stderr.strip()}")
    raise EnvironmentProblem(
        f"no free engine node slot among {MAX_SLOTS}; `lrmatrix recover` removes nodes of runs that died"
    )


def netns_add_argv(slot: Slot) -> list[str]:
    return ["ip", "netns", "add", slot.name]


def wire_args(slot: Slot) -> list[list[str]]:
    """The ``ip`` arguments that wire a slot, in order (``wire`` runs them, a plan shows them)."""
    return [
        ["link", "add", slot.host_if, "type", "veth", "peer", "name", slot.node_if],
        ["link", "set", slot.node_if, "netns", slot.name],
        ["addr", "add", f"{slot.host_addr}/24", "dev", slot.host_if],
        ["link", "set", slot.host_if, "up"],
        ["-n", slot.name, "addr", "add", f"{slot.node_addr}/24", "dev", slot.node_if],
        ["-n", slot.name, "link", "set", slot.node_if, "up"],
        ["-n", slot.name, "link", "set", "lo", "up"],
    ]


def wire(slot: Slot) -> None:
    """veth pair host<->node, addresses, links up; the caller releases the slot on failure."""
    for i, args in enumerate(wire_args(slot)):
        _ip(*args)
        if i == 0:
            setup_steps.reached("veth-added")


def release_argvs(slot: Slot) -> list[list[str]]:
    """Deleting either end of a veth deletes both; the namespace only if it is there."""
    return [["ip", "link", "del", slot.host_if], ["ip", "netns", "del", slot.name]]


def release(slot: Slot) -> None:
    """Remove veth and namespace. Idempotent."""
    link, netns = release_argvs(slot)
    run(link, timeout=15)
    if Path(slot.netns_path).exists():
        run(netns, timeout=15)


def leftover_slots() -> list[Slot]:
    """Namespaces, slot records and container cgroup parents named like ours, e.g. after the
    harness was killed."""
    names = [e.name for e in NETNS_DIR.iterdir()] if NETNS_DIR.is_dir() else []
    names += [e.name.removesuffix(".json") for e in LOCK_DIR.glob("*.json")] if LOCK_DIR.is_dir() else []
    names += [d.name.removeprefix("lrmatrix-") for d in cgroup_dirs()]
    indexes = {
        int(n.removeprefix(PREFIX))
        for n in names
        if n.startswith(PREFIX) and n.removeprefix(PREFIX).isdigit()
    }
    return [Slot(i) for i in sorted(indexes)]


#: where cgroup hierarchies are mounted (v1 controllers below it, v2 at it or at unified/)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_dirs(slot: Slot | None = None) -> list[Path]:
    """The folders of a node's cgroup parent (of any node's without ``slot``) in every cgroup
    hierarchy of this machine (v1 controllers, v2 or hybrid unified): runc makes them for the
    node's first container and leaves them."""
    pattern = slot.cgroup_name if slot is not None else "lrmatrix-lrm*"
    tops = [CGROUP_ROOT, *CGROUP_ROOT.iterdir()] if CGROUP_ROOT.is_dir() else []
    return [entry for top in tops if top.is_dir() for entry in top.glob(pattern) if entry.is_dir()]
