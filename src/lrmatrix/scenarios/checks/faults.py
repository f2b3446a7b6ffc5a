"""What a fault near dockerd left (``actions/faults.py``): the workload's containers kept or
restarted, the API while dockerd was frozen, containerd back, ``docker exec`` still working
(moby#36002: killing containerd broke interaction with containers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.faults import FaultDone
from lrmatrix.scenarios.observation import Seen
from lrmatrix.workload.containers import ContainerState

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: how often ``docker exec`` is tried again while containerd comes back
EXEC_EVERY_S = 0.5


def compared(before: list[ContainerState], now: list[ContainerState]) -> Seen:
    """ "kept running" (same PIDs and start times), "restarted" (running, new process),
    "stopped", or "mixed" when the containers fared differently."""
    was = {c.name: c for c in before}
    words = {}
    for c in now:
        old = was.get(c.name)
        if not c.running:
            words[c.name] = "stopped"
        elif old is not None and (c.pid, c.started_at) == (old.pid, old.started_at):
            words[c.name] = "kept running"
        else:
            words[c.name] = "restarted"
    for name in was.keys() - words.keys():
        words[name] = "removed"
    detail = "; ".join(
        f"{c.name}: pid {was[c.name].pid if c.name in was else '?'} -> {c.pid}, restarts {c.restart_count}"
        for c in now
    )
    values = set(words.values())
    if not values:
        return Seen("no container", detail)
    return Seen(values.pop() if len(values) == 1 else "mixed", detail)


def fault_seen(ctx: Context, key: str) -> Seen:
    done = ctx.evidence.require(FaultDone)
    return Seen(done.seen.get(key, f"not looked at by {done.what}"), done.detail)


@registry.check("containers-after-fault", phase="baseline")
def containers_after_fault(ctx: Context) -> Seen:
    """The workload's containers after the fault: kept running (same PIDs), restarted, stopped."""
    done = ctx.evidence.require(FaultDone)
    return compared(done.before, ctx.evidence.require(Deployed).workload.snapshot())


@registry.check("api-while-frozen", phase="baseline")
def api_while_frozen(ctx: Context) -> Seen:
    """The Docker API while dockerd was stopped with SIGSTOP: hung, refused or answered."""
    return fault_seen(ctx, "api")


@registry.check("containerd-back", phase="baseline")
def containerd_back(ctx: Context) -> Seen:
    """Whether a new containerd ran (and the API answered) after containerd alone was killed."""
    return fault_seen(ctx, "containerd")


@registry.check("exec-after-fault", phase="baseline")
def exec_after_fault(ctx: Context) -> Seen:
    """``docker exec <first container> true`` after the fault, tried until the recover timeout:
    works (and how long it failed first), or fails and why."""
    name = ctx.evidence.require(Deployed).workload.names[0]
    clock, first, tries = ctx.clock, ctx.clock.now(), []

    def works() -> bool:
        tries.append(ctx.node.dockerd.cli("exec", name, "true", timeout=30))
        return tries[-1].ok

    ok = poll(works, ctx.cell.timings.recover_timeout_s, EXEC_EVERY_S, clock.waits)
    failed = [r for r in tries if not r.ok]
    said = f"; first failure: {failed[0].one_line()}" if failed else ""
    detail = f"docker exec {name} true: {len(failed)} failed over {clock.now() - first:.1f}s{said}"
    return Seen("works" if ok else "fails", detail)
