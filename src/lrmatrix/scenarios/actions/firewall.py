"""The firewall reload of a package upgrade while dockerd is down: the FORWARD chain flushed
(testLiveRestoreUserChainsSetup, moby#38160 / a8bfa83667). docs/scenarios.md#firewall-reload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.spans import FaultSpan

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: only nodes whose iptables are their own: an engine node's namespace; an ssh node's FORWARD
#: chain is the host's firewall, which the harness never flushes
OWN_FIREWALL = ("engine",)


def forward_rules(node: Node) -> list[str]:
    """``iptables -S FORWARD`` of the node (the policy line first), as docker and a reader see it."""
    res = node.run(["iptables", "-w", "5", "-S", "FORWARD"], timeout=15)
    if not res.ok:
        raise NodeError(f"iptables -S FORWARD failed on {node.name}: {res.one_line()}")
    return res.stdout.splitlines()


@dataclass(frozen=True)
class ForwardFlushed(Record):
    """The FORWARD chain before and after the flush (``iptables -S``)."""

    before: list[str]
    after: list[str]


@registry.action
@dataclass(frozen=True)
class FlushForward(Action):
    """``iptables --flush FORWARD`` on the node while dockerd is down, as a firewall reload
    does (firewalld, netfilter-persistent during a package upgrade); the policy stays."""

    name: ClassVar[str] = "flush-forward"

    def refuses_node(self, scheme: str) -> str | None:
        if scheme in OWN_FIREWALL:
            return None
        return (
            f"flush-forward flushes the node's FORWARD chain: only on an engine node (its own network "
            f"namespace), never on a {scheme} node's firewall"
        )

    def run(self, ctx: Context) -> list[Record]:
        node = ctx.node
        why = self.refuses_node(node.scheme)
        if why:
            raise NodeError(why)
        before = forward_rules(node)
        res = node.run(["iptables", "-w", "5", "--flush", "FORWARD"], timeout=15)
        if not res.ok:
            raise NodeError(f"iptables --flush FORWARD failed on {node.name}: {res.one_line()}")
        at = ctx.clock.now()  # from here every request the probe sends meets the flushed chain
        after = forward_rules(node)
        # clients see it until the daemon is started again (the span ends at the start command)
        return [
            ForwardFlushed(before, after),
            FaultSpan("FORWARD flushed", at, None),
            ctx.event("FORWARD flushed", f"{len(before) - 1} rules removed"),
        ]

    def describe(self, cell: Cell) -> str:
        return "flush the node's FORWARD chain (iptables --flush FORWARD) while dockerd is down"
