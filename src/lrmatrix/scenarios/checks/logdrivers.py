"""Log drivers across the restart (goharbor/harbor#8031, moby#34804): the lines a container
wrote while the daemon was down are readable after it, without a gap, and the stream goes on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.scenarios import registry, ticker
from lrmatrix.scenarios.actions.logdrivers import LogWriters
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: how long after the restart a ticker's newer lines may take to be readable
FLOW_BOUND_S = 10.0


def verdict(seen: list[ticker.Tick], down: float, up: float, running: bool) -> str:
    """One driver's log in a word: ``readable`` (lines from the down window, no gap, newer ones
    after the restart), ``container exited``, ``lost while down``, ``gap`` or ``stream ended``."""
    if not running:
        return "container exited"
    if not any(down < t.uptime < up for t in seen):
        return "lost while down"
    if ticker.gaps(seen):
        return "gap"
    if not any(t.uptime > up for t in seen):
        return "stream ended"
    return "readable"


@registry.check("logs-while-down", phase="after")
def logs_while_down(ctx: Context) -> Seen:
    """Whether each driver's log holds the lines written while the daemon was down ("readable")."""
    writers = ctx.evidence.require(LogWriters)
    down = ctx.evidence.require(ticker.NodeTime, label="down").uptime
    up = ctx.evidence.require(ticker.NodeTime, label="up").uptime
    cli = ctx.node.dockerd.cli
    words, details = {}, []
    for driver, name in writers.containers.items():
        running = cli("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"

        def newer(name: str = name) -> list[ticker.Tick] | None:
            seen = ticker.ticks(cli("logs", name).stdout)
            return seen if any(t.uptime > up for t in seen) else None

        seen = (poll(newer, FLOW_BOUND_S, 0.5) if running else None) or ticker.ticks(cli("logs", name).stdout)
        words[driver] = verdict(seen, down, up, running)
        inside = sum(1 for t in seen if down < t.uptime < up)
        last = f"{seen[-1].n} at {seen[-1].uptime:.1f}" if seen else "none"
        details.append(
            f"{driver}: {len(seen)} lines, {inside} from the down window {down:.1f}-{up:.1f}, "
            f"gaps {ticker.gaps(seen)[:3]}, last {last}"
        )
    if len(set(words.values())) == 1:
        return Seen(next(iter(words.values())), "; ".join(details))
    return Seen(", ".join(f"{d}: {w}" for d, w in words.items()), "; ".join(details))
