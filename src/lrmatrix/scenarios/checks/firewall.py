"""The FORWARD chain after the daemon's start: repaired, and with the jump to DOCKER-USER
first, as testLiveRestoreUserChainsSetup asserts (moby a8bfa83667, in v28.0.0)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.firewall import forward_rules
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

USER_JUMP = "-A FORWARD -j DOCKER-USER"


def forward_state(rules: list[str]) -> str:
    """From ``iptables -S FORWARD``: "user jump first", "user jump at N", "no user jump"
    (docker's own rules back without it) or "empty" (nothing put back)."""
    appended = [r for r in rules if r.startswith("-A FORWARD ")]
    if not appended:
        return "empty"
    if USER_JUMP not in appended:
        return "no user jump"
    at = appended.index(USER_JUMP) + 1
    return "user jump first" if at == 1 else f"user jump at {at}"


@registry.check("forward-chain", phase="after")
def forward_chain(ctx: Context) -> Seen:
    """The node's FORWARD chain once dockerd is back: the DOCKER-USER jump first, or not there."""
    rules = forward_rules(ctx.node)
    return Seen(forward_state(rules), "; ".join(rules))
