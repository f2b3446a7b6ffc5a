"""Observe mode on an ssh node: which of the node's containers the cell watches, and when a run
must refuse before it disrupts them.

The rules (docs/workloads.md, "Observe mode"), checked by ``sanity_checks`` before anything on
the node changes, each one line and exit 2:

- the selector matches at least one container, every name given exists, each matched
  container is running (a stopped one has nothing to watch) and none carries lrmatrix's own
  cell label (the teardown removes those);
- without live-restore, stopping dockerd stops every container. A cell without live-restore
  runs only if dockerd itself starts each observed container again when it is back: restart
  policy ``always``. ``no`` and ``on-failure`` (a clean exit on SIGTERM is no failure) leave it
  stopped for the harness to start, and so may ``unless-stopped``: measured on Debian's
  sysvinit script (whose ``--retry 10`` kills dockerd while it waits out a container's stop
  timeout), an ``unless-stopped`` container whose PID 1 ignored SIGTERM came back exited (137)
  and was not restarted, an ``always`` one was. The run refuses all but ``always``.
- a cell with ``load`` refuses: the load is HTTP to the seed's padding path on ports the
  harness published.

While it runs, the node refuses any other dockerd restart that would stop them (``SshNode.
stop_daemon``, ``ChangeRecord``'s teardown), and the teardown's restore of the node's own
containers skips them: it never starts, stops or removes an observed container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrmatrix.errors import BadInput
from lrmatrix.evidence.other_containers import OtherContainer, labels_of
from lrmatrix.workload.containers import LABEL

if TYPE_CHECKING:
    from lrmatrix.matrix.model import Cell
    from lrmatrix.workload.spec import Observe

#: the restart policy under which dockerd starts a container again whatever its stop was like
DAEMON_RESTARTS = ("always",)


def select(items: list[dict[str, Any]], selector: Observe, node: str) -> tuple[OtherContainer, ...]:
    """The containers of ``items`` (``docker inspect``) that ``selector`` names, all running."""
    labels = {item["Id"]: labels_of(item) for item in items}
    found = {
        c.name: c
        for item in items
        if selector.matches((c := OtherContainer.from_inspect(item)).name, labels[item["Id"]])
    }
    missing = [n for n in selector.names if n not in found]
    if missing or not found:
        what = f"no container named {missing[0]}" if missing else f"no container labelled {selector.label}"
        raise BadInput(f"observe: {node} has {what}; start it first or fix observe in the workload's table")
    chosen = [found[n] for n in selector.names] if selector.names else sorted(found.values(), key=_name)
    ours = next((c for c in chosen if LABEL in labels[c.id]), None)
    if ours is not None:  # the teardown removes every container of the cell's label
        raise BadInput(
            f"observe: {ours.name} on {node} carries lrmatrix's label {LABEL}, which marks the containers "
            "a run removes; observe containers of your own"
        )
    stopped = next((c for c in chosen if not c.running), None)
    if stopped is not None:
        raise BadInput(
            f"observe: {stopped.name} on {node} is {stopped.state}; observe mode watches running "
            "containers: start it first"
        )
    return tuple(chosen)


def _name(c: OtherContainer) -> str:
    return c.name


def refusal(observed: tuple[OtherContainer, ...], cell: Cell) -> str | None:
    """Why ``cell`` would have to stop (or remove) one of them for good, in one line; None if not."""
    if cell.load is not None:
        return (
            f"{cell.name} sends load to ports the harness publishes; observe mode publishes none: remove load"
        )
    if cell.live_restore:
        return None
    lost = [c for c in observed if c.restart_policy not in DAEMON_RESTARTS or c.auto_remove]
    if not lost:
        return None
    names = ", ".join(f"{c.name} ({c.policy})" for c in lost)
    return (
        f"{cell.name} runs without live-restore: stopping dockerd stops the observed {names}, and only "
        "the harness could start it again, which observe mode never does; use a live-restore cell, or "
        "give it --restart always"
    )
