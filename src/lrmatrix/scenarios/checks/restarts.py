"""Restart counts of the workload's containers: a live restore must not count a restart,
and a daemon that starts them again without it says how it counted them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.run.context import Context


@registry.check("restart-count", phase="after")
def restart_count(ctx: Context) -> Seen:
    """The workload containers' RestartCount after the restart ("0 restarts": none counted)."""
    containers = ctx.evidence.require(Deployed).workload.snapshot()
    counts = {c.name: c.restart_count for c in containers}
    detail = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "no container"
    values = sorted(set(counts.values()))
    if len(values) != 1:
        return Seen("differing counts" if values else "no container", detail)
    return Seen(f"{values[0]} restarts", detail)
