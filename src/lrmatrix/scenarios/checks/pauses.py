"""The paused container after the restart: the status the daemon gives it, and whether
``docker unpause`` works (moby#25870; TestDaemonRestartWithUnpausedRunningContainer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.scenarios import registry, sidecar
from lrmatrix.scenarios.actions.pauses import PausedContainer
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.run.context import Context


@registry.check("paused-state", phase="after")
def paused_state(ctx: Context) -> Seen:
    """The paused container's status after the restart ("paused", "running", "exited 137")."""
    before = ctx.evidence.require(PausedContainer)
    now = sidecar.state(ctx.node, before.container)
    if now is None:
        return Seen("removed", f"{before.container}: no such container")
    return Seen(
        now.word,
        f"{before.container}: pid {before.pid} -> {now.pid} ({process_state(ctx.node, before.pid)})",
    )


@registry.check("unpause", phase="after")
def unpause(ctx: Context) -> Seen:
    """``docker unpause`` of the paused container: "unpaused" (it then reads running), else
    "refused: <the daemon's reason>"."""
    name = ctx.evidence.require(PausedContainer).container
    result = ctx.node.dockerd.cli("unpause", name)
    now = sidecar.state(ctx.node, name)
    word = now.word if now else "gone"
    if result.ok and now is not None and now.status == "running":
        return Seen("unpaused", f"{name}: unpause ok, now {word}")
    said = result.stderr.strip()
    return Seen(
        f"refused: {refusal(said) if said else 'accepted, not running'}"[:60], f"{name}: {said}; now {word}"
    )


def refusal(said: str) -> str:
    """The daemon's reason in a few words: "... is not paused" -> "not paused"; a runtime's
    "...: OCI runtime resume failed: container not paused: unknown" -> "container not paused"."""
    if " is " in said:
        return said.rsplit(" is ", 1)[-1].strip()
    parts = [p.strip() for p in said.split(": ") if p.strip() not in ("", "unknown")]
    return parts[-1] if parts else "error"


def process_state(node: Node, pid: int) -> str:
    """The kernel's state letter of ``pid`` (a frozen task reads D on cgroup v1, S on v2), or
    that it is gone."""
    status = node.read_file(f"/proc/{pid}/status") if pid > 0 else None
    if not status:
        return f"process {pid} gone"
    for line in status.decode(errors="replace").splitlines():
        if line.startswith("State:"):
            return f"process {pid} {line.split(':', 1)[1].strip()}"
    return f"process {pid} present"
