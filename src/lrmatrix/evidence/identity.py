"""How a path's responses tell the containers behind it apart, in one short line for the result.

Every response must identify the container that served it, so a dead container cannot hide
behind a live one (DESIGN.md, Evidence rules). For any image that identity is the address when
each container has its own (a published port per replica on ``node``/``loopback``, the
container's own address on ``pod``), or a header the workload names (``Target.identify``:
nginx's ``X-Served-By``). Where containers share one address and no header is named (a
Kubernetes NodePort of a user image), nothing tells them apart, and the result says so rather
than let a reader assume it.
"""

from __future__ import annotations

from lrmatrix.evidence.probe import Sample, Target, target_key

#: the line's start when nothing tells the containers apart: readers (and tests) key on it
NONE = "none"


def identity(path: str, targets: list[Target], samples: list[Sample] | None = None) -> str:
    """What identifies the serving container on ``path`` ("" when nothing was probed). A header
    named that no answered response among ``samples`` carried is said, never claimed."""
    if not targets:
        return ""
    named = " and ".join(sorted({t.identify for t in targets if t.identify}))
    answered = [s for s in samples or [] if s.ok]
    carried = bool(named) and (not answered or any(s.served_by for s in answered))
    missing = f" (the {named} header is named, but no response carried it)" if named and not carried else ""
    shared = sorted({target_key(t.url) for t in targets if not t.container})
    if shared:
        if carried:
            return f"the {named} header"
        return f"{NONE}: the containers behind {', '.join(shared)} cannot be told apart{missing}"
    own = (
        "the container's own address"
        if path == "pod"
        else "one address per container (published port per replica)"
    )
    return f"{own}, and the {named} header" if carried else own + missing
