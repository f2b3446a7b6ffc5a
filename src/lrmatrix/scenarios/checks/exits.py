"""What the daemon says, once back, of containers that exited while it was down
(testLiveRestoreAutoRemove, docker/for-linux#761, moby#30308): the plain one must read
``exited`` with its real code (255 only when containerd had none), the ``--rm`` one must be
gone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrmatrix.deadline import poll
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.exits import AUTOREMOVE, PLAIN, ExitedWhileDown
from lrmatrix.scenarios.containers import inspect
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: the daemon handles the exits it missed as it restores; a moment is enough
WAIT_S = 10.0


def state(found: dict[str, Any] | None) -> str:
    """ "exited 3", "running", "gone": what ``docker inspect`` says of a container."""
    if found is None:
        return "gone"
    s = found["State"]
    return f"{s['Status']} {s['ExitCode']}" if s["Status"] == "exited" else str(s["Status"])


def how(ctx: Context, name: str) -> str:
    done = ctx.evidence.last(ExitedWhileDown)
    return done.how.get(name, "not told to exit") if done is not None else "not told to exit"


@registry.check("exit-status", phase="after")
def exit_status(ctx: Context) -> Seen:
    """The plain container's state after the restart: ``exited <code>`` (or ``running``, ``gone``)."""
    poll(lambda: state(inspect(ctx.node, PLAIN)) not in ("running", "restarting", "removing"), WAIT_S, 0.5)
    found = inspect(ctx.node, PLAIN)
    return Seen(state(found), f"{PLAIN} ({how(ctx, PLAIN)} while dockerd was down): {state(found)}")


@registry.check("autoremove", phase="after")
def autoremove(ctx: Context) -> Seen:
    """The ``--rm`` container after the restart: ``removed``, or ``left <state>``."""
    poll(lambda: inspect(ctx.node, AUTOREMOVE) is None, WAIT_S, 0.5)
    found = inspect(ctx.node, AUTOREMOVE)
    seen = "removed" if found is None else f"left {state(found)}"
    return Seen(seen, f"{AUTOREMOVE} ({how(ctx, AUTOREMOVE)} while dockerd was down): {seen}")
