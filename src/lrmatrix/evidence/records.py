"""The typed evidence records an action returns and the runner keeps.

Each record is one thing a run saw, frozen when it was seen. Times are monotonic readings of
the run's clock; the result turns them into seconds since the start. A new kind of evidence is
a new record here (or beside the code that makes it), never a new attribute on the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrmatrix.evidence.probe import PathRecord
    from lrmatrix.modules.daemon_json import Backup


class Record:
    """A marker base: what the evidence store accepts."""


@dataclass(frozen=True)
class Event(Record):
    """Something that happened, in words, at a time (the timeline's marks)."""

    t: float
    name: str
    detail: str = ""


@dataclass(frozen=True)
class Timing(Record):
    """How long one step of the run took (``node_start_s``, ``daemon_stop_s``, ...)."""

    key: str
    seconds: float


@dataclass(frozen=True)
class PhaseSpan(Record):
    """A phase of the scenario, from entering it to entering the next (``end`` None: current)."""

    name: str
    start: float
    end: float | None = None


@dataclass(frozen=True)
class Check(Record):
    """A node check's outcome (built-in, the user's, or one of the teardown's own)."""

    id: str
    phase: str
    passed: bool
    detail: str = ""
    #: a user check's file (``infra_tests/test_x.py``); ``None``: a built-in check
    source: str | None = None


@dataclass(frozen=True)
class SkippedCheck(Record):
    """A check pytest skipped, with why: compare gates on a check that ran before and now did not."""

    id: str
    phase: str
    detail: str
    source: str | None = None


@dataclass(frozen=True)
class NodeFacts(Record):
    """The node as it was found: versions it reported (never assumed), address and name."""

    versions: dict[str, str]
    address: str | None
    name: str
    caveat: str | None = None


@dataclass(frozen=True)
class LiveRestoreApplied(Record):
    """daemon.json's backup and the setting the running daemon reports (``docker info``)."""

    backup: Backup
    original_config: dict[str, Any]
    effective: bool | None
    how: str  # "already", "reload" or "restart"


@dataclass(frozen=True)
class Deployed(Record):
    """The workload on the node: its handle (containers or pods), and container addresses."""

    workload: Any  # Workload | PodContainers: what captures, changes and names the containers
    at: float  # when the image was in place: the workload's readiness is counted from here
    pod_ips: tuple[str, ...] = ()
    pod_names: dict[str, str] = field(default_factory=dict)  # container IP -> container name


@dataclass(frozen=True)
class Stopped(Record):
    """The disruption began (``stop_at``) and the daemon was seen gone (``stopped_at``; None:
    never seen gone). ``proxies_*``: the node's docker-proxy pids (None: not looked at)."""

    stop_at: float
    stopped_at: float | None
    before_pid: int | None
    how: str  # the signal, or "package upgrade"
    proxies_before: list[int] | None = None
    proxies_gone: list[int] | None = None


@dataclass(frozen=True)
class WindowEnded(Record):
    """The outage window is over (``start_at``: the start command, or the respawn seen)."""

    start_at: float
    respawned: bool = False
    proxies_before_start: list[int] | None = None


@dataclass(frozen=True)
class DaemonWatched(Record):
    """Whether the daemon stayed gone for the whole window: when it was seen back, and how."""

    came_back_at: float | None
    came_back: str
    summary: dict[str, Any]  # period, checks, longest gap, errors (with times since the start)


@dataclass(frozen=True)
class Started(Record):
    """The daemon (or the cell's next engine) answers its API again, and what it reports."""

    api_at: float
    versions_after: dict[str, str]


@dataclass(frozen=True)
class NotBack(Record):
    """Why the daemon (or the cell's next engine) never answered after the start: its own
    reason, in the cell's words (a new engine that refuses to start is what a team runs the
    matrix for)."""

    reason: str


@dataclass(frozen=True)
class Recovered(Record):
    """Whether each access path answered again within the recover timeout of the start, and
    which containers the daemon left stopped (the wait ended without them)."""

    answered: dict[str, bool]
    stopped: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeBegun(Record):
    """The workload's configuration change began: from here a failure is the change's own."""

    change_at: float


@dataclass(frozen=True)
class ProbeEvidence(Record):
    """Everything the background probe recorded, per access path."""

    records: dict[str, PathRecord]
    wall0: float  # when it started (epoch): the log rate before the stop is measured from here


@dataclass(frozen=True)
class LoadEvidence(Record):
    """What the load generator asked for and what it really sent."""

    summary: dict[str, Any]


@dataclass(frozen=True)
class NatWatched(Record):
    """The DOCKER NAT chain sampled around the start (times since the run's start)."""

    summary: dict[str, Any]


@dataclass(frozen=True)
class SavedLog(Record):
    """A log kept beside the result as ``<cell>.<name>`` (the daemon's, an upgrade's output)."""

    name: str
    data: bytes
