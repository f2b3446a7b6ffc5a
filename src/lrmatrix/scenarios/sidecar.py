"""A scenario's own small container beside the workload: busybox from the workload's image,
labelled with the cell so teardown removes it (``containers.run_container``), and the part of
its ``docker inspect`` the checks compare.

The volume, restart-policy and pause scenarios each need a container the probe does not
watch (pausing or killing the workload's own would turn the probe's verdict into the
scenario's), so they share how one is started and read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios.containers import inspect, run_container

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.run.context import Context

#: every offline image of lrmatrix carries busybox-static (lrmatrix.workload.image)
BUSYBOX = "/bin/busybox"
#: names the scenario actions give their containers and volumes (they carry no user input)
NAME = re.compile(r"^lrm-[a-z0-9-]{1,40}$")
POLICIES = ("no", "always", "unless-stopped", "on-failure")
#: long enough for any cell; ``exec`` so the container's main process is the sleep itself
SLEEP = (BUSYBOX, "sleep", "1000000")


@dataclass(frozen=True)
class State:
    """The part of ``docker inspect``'s State the scenario checks compare."""

    status: str  # created, running, paused, restarting, exited, dead
    running: bool
    pid: int
    exit_code: int
    started_at: str
    restart_count: int

    @classmethod
    def of(cls, inspected: dict[str, Any]) -> State:
        """From ``docker inspect``'s document of the container."""
        s = inspected["State"]
        return cls(
            status=str(s["Status"]),
            running=bool(s["Running"]),
            pid=int(s["Pid"]),
            exit_code=int(s["ExitCode"]),
            started_at=str(s["StartedAt"]),
            restart_count=int(inspected.get("RestartCount", 0)),
        )

    @property
    def word(self) -> str:
        """How a check reports it: "running", "paused", "exited 137"."""
        return f"{self.status} {self.exit_code}" if self.status == "exited" else self.status


def named(what: str, value: str) -> None:
    """An action's param that names a container or volume: ``ValueError`` unless it is lrmatrix's."""
    if not NAME.match(value):
        raise ValueError(f"{what} {value!r} does not match {NAME.pattern}")


def image_of(ctx: Context) -> str:
    """The image the cell's workload runs: already on the node, and it has busybox."""
    return str(ctx.evidence.require(Deployed).workload.image)


def start(ctx: Context, name: str, *run_args: str, argv: tuple[str, ...] = SLEEP) -> State:
    """``docker run -d`` a container ``name`` (``run_args`` before the image) labelled with the
    cell; its state once started."""
    return State.of(run_container(ctx, name, list(run_args), list(argv)))


def state(node: Node, name: str) -> State | None:
    """Container ``name``'s state now; ``None`` if the daemon knows no such container."""
    found = inspect(node, name)
    return State.of(found) if found is not None else None


def per_item(seen: dict[str, str]) -> str:
    """One value for many items: the common word, or each item's where they differ."""
    words = set(seen.values())
    if len(words) == 1:
        return words.pop()
    return ", ".join(f"{k}: {v}" for k, v in sorted(seen.items()))
