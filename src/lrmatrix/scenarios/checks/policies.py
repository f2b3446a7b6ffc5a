"""Restart policies after the restart: what became of the policy container (kept by live
restore, started again by the daemon, or left exited), and whether a SIGKILL of its process
brings it back under its policy within 10 s with a later StartedAt, as moby's
TestRestartPolicyWithLiveRestore asserts (moby#29598)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.scenarios import registry, sidecar
from lrmatrix.scenarios.actions.policies import PolicyContainer
from lrmatrix.scenarios.containers import nanoseconds
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: moby's test waits this long for the restart after the kill
RESTART_WITHIN_S = 10.0


@registry.check("policy-restore", phase="after")
def policy_restore(ctx: Context) -> Seen:
    """The policy container after the restart: "kept" (the same process and start), "started
    again" (a later StartedAt), else its status ("exited 137", "restarting")."""
    before = ctx.evidence.require(PolicyContainer)
    now = sidecar.state(ctx.node, before.container)
    if now is None:
        return Seen("removed", f"{before.container}: no such container")
    detail = (
        f"{before.container}: pid {before.pid} -> {now.pid}, started {before.started_at} -> "
        f"{now.started_at}, status {now.word}, {now.restart_count} restarts"
    )
    if now.running and now.status == "running":
        if now.pid == before.pid and now.started_at == before.started_at:
            return Seen("kept", detail)
        if nanoseconds(now.started_at) > nanoseconds(before.started_at):
            return Seen("started again", detail)
    return Seen(now.word, detail)


@registry.check("kill-restart", phase="after")
def kill_restart(ctx: Context) -> Seen:
    """SIGKILL of the policy container's process: "restarted" (running again with a later
    StartedAt within 10 s) or "not restarted"; "not running" if there was nothing to kill."""
    name = ctx.evidence.require(PolicyContainer).container
    before = sidecar.state(ctx.node, name)
    if before is None or not before.running or before.pid <= 0:
        return Seen(
            "not running", f"{name}: {before.word if before else 'no such container'} before the kill"
        )
    start = nanoseconds(before.started_at)
    ctx.node.run(["kill", "-KILL", str(before.pid)])
    began = ctx.clock.now()

    def back() -> sidecar.State | None:
        now = sidecar.state(ctx.node, name)
        return now if now and now.running and nanoseconds(now.started_at) > start else None

    now = poll(back, timeout=RESTART_WITHIN_S, interval=0.05)
    took = ctx.clock.now() - began
    if now is None:
        last = sidecar.state(ctx.node, name)
        return Seen(
            "not restarted",
            f"{name}: pid {before.pid} killed; {RESTART_WITHIN_S:g} s later {last.word if last else 'gone'}",
        )
    return Seen(
        "restarted",
        f"{name}: pid {before.pid} killed, running again as pid {now.pid} within {took:.1f} s "
        f"({now.restart_count} restarts)",
    )
