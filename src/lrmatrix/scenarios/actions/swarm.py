"""Swarm mode and live-restore (issue 22's "swarm"; moby ``daemon/config/config_linux.go``
``IsSwarmCompatible``): the node made a one-node swarm manager on its own address, and what the
daemon does when live-restore meets swarm mode: ``docker swarm init`` with it on, live-restore
turned on by a reload while the node is a manager, and dockerd started with it on while the
node is a manager. Whatever happens, the cleanup leaves the swarm."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.modules import daemon_json
from lrmatrix.run.actions.base import Action, until
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.daemonconfig import inside

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: swarm's manager port, on the node's own address only
SWARM_PORT = 2377
#: what an action records when the node never became a manager (live-restore refused the init)
NOT_IN_SWARM = "not in a swarm"


@dataclass(frozen=True)
class SwarmTried(Record):
    """What the daemon did with one thing a swarm action tried: ``what`` is ``init``
    (``active``, ``refused``), ``reload`` (live-restore on by a reload on a manager:
    ``accepted``, ``refused``) or ``start`` (dockerd started with it on a manager:
    ``refused to start``, ``started``); ``not in a swarm`` when there was no manager to try it on."""

    what: str
    outcome: str
    detail: str


@dataclass(frozen=True)
class SwarmLeft(Record):
    """The cleanup's ``docker swarm leave --force``: what the node said."""

    detail: str


def node_state(node: Node) -> str:
    """``Swarm.LocalNodeState`` as ``docker info`` gives it (``active``, ``inactive``, ...)."""
    res = node.dockerd.cli("info", "--format", "{{.Swarm.LocalNodeState}}")
    return res.stdout.strip() if res.ok else f"no answer: {res.one_line()}"


def live_restore_enabled(node: Node) -> bool:
    res = node.dockerd.cli("info", "--format", "{{.LiveRestoreEnabled}}")
    return res.ok and res.stdout.strip() == "true"


def in_swarm(ctx: Context) -> bool:
    joined = ctx.evidence.last(SwarmTried, what="init")
    return joined is not None and joined.outcome == "active"


@contextmanager
def live_restore_written(node: Node, enabled: bool = True) -> Iterator[None]:
    """daemon.json with ``"live-restore": enabled`` for the block, the node's own file put
    back after it whatever happened (byte for byte)."""
    path = node.daemon_json_path
    original = node.read_file(path)
    node.write_file(path, daemon_json.merge_live_restore(original, enabled, path))
    try:
        yield
    finally:
        node.write_file(path, original if original is not None else b"{}\n")


def refuses_other_nodes(name: str, scheme: str) -> str | None:
    if scheme == "engine":
        return None
    return f"{name} makes the node a swarm manager: only on an engine node, never on a {scheme} node of yours"


@registry.action
@dataclass(frozen=True)
class SwarmInitAction(Action):
    """``docker swarm init`` advertising and listening on the node's own 198.18.0.0/15 address
    (nothing else is given out); refused, it records the daemon's reason."""

    name: ClassVar[str] = "swarm-init"

    def refuses_node(self, scheme: str) -> str | None:
        return refuses_other_nodes(self.name, scheme)

    def run(self, ctx: Context) -> list[Record]:
        address = inside(ctx.node.address)
        res = ctx.node.dockerd.cli(
            "swarm", "init", "--advertise-addr", address, "--listen-addr", f"{address}:{SWARM_PORT}"
        )
        state = node_state(ctx.node)
        if res.ok and state != "active":
            raise NodeError(f"docker swarm init answered, but the node's swarm state is {state!r}")
        outcome, detail = ("active", state) if res.ok else ("refused", res.one_line())
        joined = SwarmTried("init", outcome, detail)
        return [joined, ctx.event("swarm init", f"{joined.outcome}: {joined.detail}")]

    def describe(self, cell: Cell) -> str:
        listen = f"<node>:{SWARM_PORT}"
        return f"docker swarm init --advertise-addr <node> --listen-addr {listen} (a one-node manager)"


@registry.action
@dataclass(frozen=True)
class ReloadLiveRestore(Action):
    """live-restore written into daemon.json and the daemon reloaded (SIGHUP) while the node is
    a manager; whether the daemon took it, then turned off by a reload again and the node's
    own file put back."""

    name: ClassVar[str] = "reload-live-restore"
    waits: ClassVar[bool] = True
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 60:  # nan fails too
            raise ValueError(f"timeout_s = {self.timeout_s} is out of range: use more than 0, at most 60")

    def run(self, ctx: Context) -> list[Record]:
        node = ctx.node
        if not in_swarm(ctx):
            return [SwarmTried("reload", NOT_IN_SWARM, "swarm init was refused: nothing to try")]
        if live_restore_enabled(node):
            raise NodeError("reload-live-restore needs a daemon without live-restore (noliverestore)")
        with live_restore_written(node):
            node.reload_daemon()
            took = poll(lambda: live_restore_enabled(node), self.timeout_s, 0.2)
            state = node_state(node)
        # a reload leaves an option the file does not name as it is: off is written out
        with live_restore_written(node, enabled=False):
            node.reload_daemon()
            if not poll(lambda: not live_restore_enabled(node), self.timeout_s, 0.2):
                raise NodeError("live-restore written off and reloaded, but the daemon still runs with it")
        outcome = "accepted" if took else "refused"
        detail = (
            f"LiveRestoreEnabled true with swarm {state}; put back off"
            if took
            else f"LiveRestoreEnabled stayed false for {self.timeout_s:g} s (swarm {state})"
        )
        event = ctx.event("live-restore reloaded in swarm", f"{outcome}: {detail}")
        return [SwarmTried("reload", outcome, detail), event]

    def describe(self, cell: Cell) -> str:
        took = until("docker info shows it", self.timeout_s)
        return (
            f"while a manager: live-restore on in daemon.json and SIGHUP, {took}; "
            "then off by SIGHUP again, the file put back"
        )


@registry.action
@dataclass(frozen=True)
class StartWithLiveRestore(Action):
    """During the outage (dockerd down, the node a manager): dockerd started with live-restore
    in daemon.json; refused, the daemon's fatal line is kept; started, it is stopped again. The
    file is put back either way, before the cell's own start."""

    name: ClassVar[str] = "start-with-live-restore"

    def run(self, ctx: Context) -> list[Record]:
        node = ctx.node
        if node.daemon_pid() is not None:
            raise NodeError("start-with-live-restore runs while the daemon is down (in the outage phase)")
        if not in_swarm(ctx):
            return [SwarmTried("start", NOT_IN_SWARM, "swarm init was refused: nothing to try")]
        with live_restore_written(node):
            try:
                node.start_daemon()
            except NodeError as exc:
                seen = SwarmTried("start", "refused to start", str(exc))
            else:
                state = node_state(node)
                seen = SwarmTried("start", "started", f"dockerd started, swarm {state}; stopped again")
                node.stop_daemon("SIGTERM")
        event = ctx.event("dockerd started with live-restore in swarm", f"{seen.outcome}: {seen.detail}")
        return [seen, event]

    def describe(self, cell: Cell) -> str:
        return (
            "while dockerd is down: start it with live-restore in daemon.json "
            "(stopped again if it starts), the file put back"
        )


@registry.action
@dataclass(frozen=True)
class SwarmLeave(Action):
    """Cleanup, whatever happened: ``docker swarm leave --force`` while the daemon runs, so no
    swarm outlives the cell (an engine node's data-root goes with the node)."""

    name: ClassVar[str] = "swarm-leave"

    def run(self, ctx: Context) -> list[Record]:
        node = ctx.node
        if node.daemon_pid() is None:
            return [SwarmLeft("dockerd is not running: nothing to leave")]
        before = node_state(node)
        if before == "inactive":
            return [SwarmLeft("not in a swarm")]
        res = node.dockerd.cli("swarm", "leave", "--force")
        after = node_state(node)
        if after != "inactive":
            raise NodeError(f"docker swarm leave --force: {res.one_line()}; the node's swarm is {after!r}")
        return [SwarmLeft(f"left ({before} -> {after})"), ctx.event("swarm left", before)]

    def describe(self, cell: Cell) -> str:
        return "docker swarm leave --force (whatever happened)"
