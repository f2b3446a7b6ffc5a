"""What scenario actions and checks share on a Docker node: a container of the scenario's own
(the workload's image, the cell's label, so teardown removes it on any node), ``docker
inspect`` of one by name, and times as the node's daemon and clock tell them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Deployed
from lrmatrix.workload.containers import LABEL

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.run.context import Context

#: a scenario's own containers: apart from the workload's ``lrm-web-*``
PREFIX = "lrm-scn-"


def idle(on_term: int = 0) -> list[str]:
    """A container command that does nothing until SIGTERM, then exits with ``on_term`` (a
    shell as PID 1 ignores a signal it has no trap for: a daemon stopping it would wait its
    stop timeout and kill it)."""
    return ["sh", "-c", f'trap "exit {on_term}" TERM; while :; do sleep 1; done']


IDLE = idle()


def run_container(ctx: Context, name: str, options: list[str], command: list[str]) -> dict[str, Any]:
    """``docker run -d`` of the workload's image as ``name`` with ``options``; its inspect."""
    image = ctx.evidence.require(Deployed).workload.image
    label = ["--label", f"{LABEL}={ctx.cell.name}"]
    ctx.node.dockerd.cli_ok("run", "-d", "--name", name, *label, *options, image, *command)
    found = inspect(ctx.node, name)
    if found is None:
        raise NodeError(f"{name} was started, and docker inspect does not know it")
    return found


def inspect(node: Node, name: str) -> dict[str, Any] | None:
    """The container's ``docker inspect``; ``None`` when the daemon has no such container."""
    res = node.dockerd.cli("inspect", "--type", "container", name)
    if not res.ok:
        if "no such" in res.one_line().lower():
            return None
        raise NodeError(f"docker inspect {name}: {res.one_line()}")
    found: list[dict[str, Any]] = json.loads(res.stdout)
    return found[0] if found else None


def nanoseconds(stamp: str) -> int:
    """A time the daemon wrote (RFC 3339, nanoseconds with trailing zeros cut, ``Z`` or an
    offset) as an integer that orders correctly: string order does not (``.5Z`` sorts after
    ``.51Z``)."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, zone = frac.partition(sign)
            zone = sign + zone
    seconds = int(datetime.fromisoformat(head + (zone or "+00:00")).timestamp())
    return seconds * 1_000_000_000 + int(frac[:9].ljust(9, "0") or 0)


def docker_time(text: str) -> float:
    """A time the daemon wrote as seconds since the epoch."""
    return nanoseconds(text) / 1e9


def node_now(node: Node) -> float:
    """The node's own clock (what its daemon stamps health checks and events with)."""
    res = node.run(["date", "+%s.%N"])
    if not res.ok:
        raise NodeError(f"date on the node: {res.one_line()}")
    return float(res.stdout.strip())
