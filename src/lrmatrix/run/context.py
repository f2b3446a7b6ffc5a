"""What an action is handed: the cell, its node, the clock, the evidence so far, what runs in
the background, and the services a dry run replaces. No action sees the runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from lrmatrix.evidence.probe import Probe, Target, wait_until_ok
from lrmatrix.evidence.records import Event, Record, Timing
from lrmatrix.evidence.store import Evidence
from lrmatrix.run.clock import RunClock

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.kube.api import Kube
    from lrmatrix.matrix.cells import Cell

B = TypeVar("B")


class Background(Protocol):
    """Something an action started that runs on until stopped (a probe, a watch, a session
    with the cluster); stopping it gives the evidence it gathered."""

    def stop(self) -> Iterable[Record]: ...


class Running:
    """The background things of one run by name; the runner stops what is left in teardown,
    whatever happened, so nothing outlives the run."""

    def __init__(self) -> None:
        self._items: dict[str, Background] = {}

    def start(self, name: str, item: Background) -> None:
        if name in self._items:
            raise RuntimeError(f"{name} is already running")
        self._items[name] = item

    def get(self, name: str, kind: type[B]) -> B | None:
        item = self._items.get(name)
        return item if isinstance(item, kind) else None

    def stop(self, name: str) -> list[Record]:
        """Stop one (if it runs) and hand over its evidence."""
        item = self._items.pop(name, None)
        return list(item.stop()) if item is not None else []

    def stop_all(self) -> list[Record]:
        """Stop everything still running, last started first; one that fails to stop does not
        keep the others running (its error is raised once they are all stopped)."""
        records: list[Record] = []
        errors: list[Exception] = []
        for name in reversed(list(self._items)):
            try:
                records += self.stop(name)
            except Exception as exc:  # the others must stop regardless
                errors.append(exc)
        if errors:
            raise errors[0]
        return records

    def __contains__(self, name: str) -> bool:
        return name in self._items


def _cluster(node: Node) -> Kube:
    from lrmatrix.kube.api import cluster_of

    return cluster_of(node)


def _announce(phase: str) -> None:
    """A real run announces nothing; the dry run marks each phase in its recording."""


@dataclass(frozen=True)
class Services:
    """The runner's dealings with the outside that a dry run (tests/contract) replaces: waiting
    for paths to answer, the probe, the cluster's API, and the phase headings."""

    wait_paths: Callable[[list[Target], float, float, str | None], float | None] = wait_until_ok
    new_probe: Callable[..., Probe] = Probe
    kube_client: Callable[[Node], Kube] = _cluster
    announce: Callable[[str], None] = _announce


@dataclass(frozen=True)
class Context:
    """One action's view of the run."""

    cell: Cell
    node: Node
    clock: RunClock
    evidence: Evidence
    running: Running = field(default_factory=Running)
    services: Services = field(default_factory=Services)

    def event(self, name: str, detail: str = "", at: float | None = None) -> Event:
        """An event now, or at a past moment a watcher saw (``at``, monotonic)."""
        return Event(self.clock.now() if at is None else at, name, detail)

    def timing(self, key: str, start: float, end: float | None = None) -> Timing:
        return Timing(key, round((self.clock.now() if end is None else end) - start, 3))
