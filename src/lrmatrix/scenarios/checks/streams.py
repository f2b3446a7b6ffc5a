"""Client streams across the restart (moby#27987, #29342, #31997): the clients end rather than
hang, ``exec -u`` answers as before, ``docker stop`` returns, and the root filesystem is
unmounted after the stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.streams import RUNNING, StreamsStarted, StreamStop, exec_user
from lrmatrix.scenarios.observation import Seen
from lrmatrix.scenarios.ticker import NodeClients

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: how long after the restart a client may still be running before it counts as hung
END_BOUND_S = 10.0
EOF_WORDS = ("EOF", "connection reset", "broken pipe")


def client_word(name: str, rc: str | None, out: str, err: str) -> str:
    """One client's end in a word: ``eof`` (the stream was cut), ``exit N`` (``docker wait``
    printed the container's exit code), ``ended`` (rc 0), ``error N``, or ``hung``."""
    if rc is None:
        return "hung"
    if any(w.lower() in err.lower() for w in EOF_WORDS):
        return "eof"
    if rc == "0":
        code = out.strip().splitlines()[-1] if name == "wait" and out.strip() else ""
        return f"exit {code}" if code else "ended"
    return f"error {rc}"


@registry.check("stream-clients-end", phase="recover")
def clients_end(ctx: Context) -> Seen:
    """How docker wait, logs -f, attach and events ended across the restart ("eof": all cut)."""
    clients = ctx.running.get(RUNNING, NodeClients)
    if clients is None:
        raise NodeError("the stream clients are not running (start-stream-clients did not run)")

    def all_ended() -> dict[str, str | None] | None:
        rcs = clients.ended()
        return rcs if all(rc is not None for rc in rcs.values()) else None

    rcs = poll(all_ended, END_BOUND_S, 0.2) or clients.ended()
    words = {}
    for name in clients.names:
        out, err = clients.output(name)
        words[name] = client_word(name, rcs[name], out, err)
    detail = "; ".join(
        f"{n}: rc {rcs[n] if rcs[n] is not None else 'none (still running)'}, "
        f"stderr {clients.output(n)[1].strip()[-60:]!r}"
        for n in clients.names
    )
    if len(set(words.values())) == 1:
        return Seen(next(iter(words.values())), detail)
    return Seen(", ".join(f"{n}: {w}" for n, w in words.items()), detail)


@registry.check("exec-user", phase="recover")
def exec_user_same(ctx: Context) -> Seen:
    """Whether ``docker exec -u`` answers as it did before the stop ("same")."""
    started = ctx.evidence.require(StreamsStarted)
    state = ctx.node.dockerd.cli("inspect", "-f", "{{.State.Status}}", started.container).stdout.strip()
    if state != "running":
        return Seen("not running", f"the ticker is {state or 'gone'}; before the stop: {started.exec_before}")
    after = exec_user(ctx, started.container, started.user)
    detail = f"before: {started.exec_before}; after: {after}"
    return Seen("same" if after == started.exec_before else "differs", detail)


@registry.check("stop-returns", phase="after")
def stop_returns(ctx: Context) -> Seen:
    """Whether ``docker stop`` of the ticker returned after the restart ("stopped")."""
    stop = ctx.evidence.require(StreamStop)
    if stop.hung:
        return Seen("hung", f"no answer within {stop.seconds:g} s: {stop.output}")
    if stop.rc != 0:
        return Seen(f"error {stop.rc}", stop.output)
    return Seen("stopped", f"returned in {stop.seconds:g} s")


@registry.check("rootfs-unmounted", phase="after")
def rootfs_unmounted(ctx: Context) -> Seen:
    """Whether the ticker's root filesystem is gone from the node's mountinfo ("unmounted")."""
    started = ctx.evidence.require(StreamsStarted)
    if not started.rootfs:
        raise NodeError(
            f"the daemon named no root filesystem of {started.container} (GraphDriver.Data.MergedDir)"
        )
    raw = ctx.node.read_file("/proc/self/mountinfo")
    if raw is None:
        raise NodeError("the node has no /proc/self/mountinfo")
    mounted = [ln for ln in raw.decode(errors="replace").splitlines() if started.rootfs in ln.split()[4:5]]
    if mounted:
        return Seen("still mounted", f"{started.rootfs} is in mountinfo: {mounted[0][:160]}")
    return Seen("unmounted", f"{started.rootfs} is not in mountinfo")
