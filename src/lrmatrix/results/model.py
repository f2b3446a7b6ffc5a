"""The result of one cell run (``lrmatrix.result/2``) as one pydantic model: the writer
validates it before a file is written, and every reader (``report``, ``compare``, ``run``'s
table) gets it back, reading attributes, never string keys.

Strict: a number is never a bool or a string, NaN and infinity are refused (the writer's
too), and a key the model does not name is refused: a /2 file holds exactly what this
lrmatrix writes. A field typed ``... | None`` is ``None`` where the run never got that far,
and, in a ``lrmatrix.result/1`` file read through ``results/v1.py``, where that file was
written before the key existed. Times are seconds since ``started_at`` (the run's monotonic
clock). A wrong value is one line naming the key (``said``).
"""

from __future__ import annotations

import json
from functools import reduce
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lrmatrix.results.documents import join

SCHEMA = "lrmatrix.result/2"

Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0)]
#: seconds since ``started_at``; ``None``: did not happen (yet)
Seconds = float | None


class Part(BaseModel):
    """Every object of a result: types strict, no NaN or infinity, no key it does not name."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


# --- who, where, what ran ----------------------------------------------------------------------
class NodeInfo(Part):
    address: str | None
    name: str
    host: str  # the machine the harness ran on


class LiveRestore(Part):
    configured: bool
    effective: bool | None  # as the running daemon reported it (None: never read)


class Engines(Part):
    """The engine the node started with and the one that answered after the window (an
    upgrade cell's differ): its name and the versions it reported."""

    before: dict[str, str]
    after: dict[str, str]


class Timings(Part):
    """The cell's configured timings."""

    outage_window_s: float
    probe_interval_s: Annotated[float, Field(gt=0)]
    probe_timeout_s: float
    ready_timeout_s: float
    recover_timeout_s: float
    stop_timeout_s: float
    upgrade_timeout_s: float | None
    log_rate_min_s: float | None = None  # results before it: absent


class Phase(Part):
    name: str
    started_at: str
    finished_at: str | None
    t_start: float
    t_end: Seconds


class Event(Part):
    name: str
    t: float
    at: str
    detail: str


class Check(Part):
    id: str
    phase: str
    passed: bool
    detail: str
    #: a user check's file, relative to the folder holding matrix/ (``infra_tests/test_x.py``);
    #: ``None``: a built-in check (and every check of a result written before user checks)
    source: str | None = None

    @property
    def label(self) -> str:
        """``phase/id``, and a user check's file: how reports, compare and the outcome name it."""
        return check_label(self.phase, self.id, self.source)


class SkippedCheck(Part):
    id: str
    phase: str
    detail: str
    source: str | None = None

    @property
    def label(self) -> str:
        return check_label(self.phase, self.id, self.source)


def check_label(phase: str, check_id: str, source: str | None) -> str:
    return f"{phase}/{check_id}" + (f" (user check, {source})" if source else "")


# --- the probe, per access path ----------------------------------------------------------------
class Interval(Part):
    """The probe's achieved send interval and its jitter, in ms."""

    mean_ms: float
    stdev_ms: float
    p99_ms: float


class TargetCoverage(Part):
    ratio: Share
    sent: Count
    counted: float
    expected: float


class Coverage(TargetCoverage):
    """Requests sent while down against what the interval calls for, overall and per container."""

    threshold: float
    targets: dict[str, TargetCoverage]


class Serving(Part):
    """One container (by the identity its responses carry: a named header such as
    ``X-Served-By``, else its own address): responses served, the last before the stop signal
    and the first after the start command."""

    served: Count
    last_before_stop: Seconds
    first_after_start: Seconds


class Misdirected(Part):
    """Responses on one container's address that another container served."""

    target: str
    expected: str
    served_by: str
    count: Count
    first_t: float


#: [t, ok (1/0), latency_ms, index into targets, index into servers or -1 (unknown)]
Sample = tuple[float, int, float, int, int]


class PathSummary(Part):
    """One access path: counts, outage windows, coverage of the down interval, who served,
    recovery, and the raw samples."""

    sent: Count
    failed: Count
    sent_while_down: Count
    failed_while_down: Count
    longest_outage_ms: Share
    #: the share of the down interval (stop signal to start command) in which the path was
    #: failing, by send time, and from when (s after the stop signal; None: it never failed).
    #: Unset in results written before it existed.
    down_failed_share: Share | None = None
    down_failed_from_s: Seconds = None
    windows: list[tuple[float, float | None]]  # end None: never answered again
    # seconds after the API answered again until every target answered too (None: one never
    # did). Left unset, not None, in /1 results written before it existed: compare must not
    # read "never answered" into a result that did not measure it (``model_fields_set``)
    recovery_s: Seconds = None
    errors: dict[str, Count]
    interval: Interval
    missed_ticks: Count  # sends skipped (per target and tick): bound in flight, or a late scheduler
    skipped_in_flight: Count = 0  # of those, the target had its bound of requests in flight
    stopped: str | None  # why the probe thread ended ("asked")
    cpu_s: float
    setup_error: str
    coverage: Coverage | None  # None: no down interval
    serving: dict[str, Serving] | None
    misdirected: list[Misdirected] | None
    #: what tells the containers behind this path apart (their own addresses, a header, or
    #: "none: ..."); unset in results written before it existed
    identity: str | None = None
    targets: list[str] | None
    servers: list[str] | None
    samples: list[Sample]


# --- the disruption ------------------------------------------------------------------------------
class DaemonWatch(Part):
    """The watch that the daemon stayed gone for the whole window."""

    period_s: float
    checks: Count
    longest_gap_s: float
    came_back_at: Seconds
    came_back: str
    check_errors: list[str]


class DockerProxy(Part):
    """The node's docker-proxy PIDs at three moments (None: not looked at)."""

    before_stop: list[int] | None
    gone: list[int] | None
    before_start: list[int] | None


class Nat(Part):
    """The DOCKER NAT chain sampled around the start: when it was missing, DNAT rules over time."""

    samples: Count
    period_s: float
    missing: list[tuple[float, float]]
    dnat_rules: list[tuple[float, int | None]]
    check_errors: list[str]


class Disruption(Part):
    """When the stop signal was sent, the daemon was gone, the start command given, the API
    answered again, the config change began, and whether the daemon came back by itself."""

    stop_at: Seconds
    stopped_at: Seconds
    start_at: Seconds
    api_at: Seconds
    change_at: Seconds
    came_back_at: Seconds
    came_back: str | None
    daemon_watch: DaemonWatch | None
    docker_proxy: DockerProxy | None
    nat: Nat | None


# --- the workload -------------------------------------------------------------------------------
class Container(Part):
    name: str
    id: str
    running: bool
    pid: int
    started_at: str
    restart_count: int
    port: int
    ip: str | None
    procs: list[int]


class Containers(Part):
    before: list[Container]
    after: list[Container]
    pids_kept: bool | None


class LogPressure(Part):
    """One container's stdout chain: its log rate, capacity, predicted and seen stall."""

    bytes_per_s: float
    streams: dict[str, float]
    pipe_capacity: int | None
    usable_capacity: int | None
    predicted_horizon_s: Seconds
    stalled_at_s: Seconds
    free_until_s: Seconds
    blocked: str | None
    fill_rate_while_down: float | None
    projected_horizon_s: Seconds
    rate_span_s: float | None = None  # results before it: absent


class Load(Part):
    """What the load generator asked for and what it sent."""

    rate_per_s: float
    path: str
    pad_bytes: int
    sent: Count
    failed: Count
    achieved_per_s: float | None
    stopped: str


# --- a package upgrade --------------------------------------------------------------------------
class UpgradeStep(Part):
    command: str
    started_at: float
    seconds: float
    rc: int | None  # None: still running, or never seen to end
    output_tail: str
    units: list[tuple[float, str]]  # [t, the service manager's message]


class ProcessTimeline(Part):
    samples: Count
    period_s: float
    longest_gap_s: float
    processes: dict[str, list[tuple[int, float, float]]]  # name: [[pid, first seen, last seen]]
    check_errors: list[str]


class Upgrade(Part):
    staged: list[str]
    steps: list[UpgradeStep]
    dockerd_gone_at: Seconds
    dockerd_started_at: Seconds  # its /proc start, the end of "while down"
    dockerd_first_seen_at: Seconds = None  # the first sample with it (results before it: absent)
    #: [pid, start] of each new dockerd read from its /proc: the earliest the read allows
    dockerd_proc_starts: list[tuple[int, float]] = []
    timeline: ProcessTimeline


# --- an existing node's own containers ----------------------------------------------------------
class OtherContainer(Part):
    id: str
    name: str
    state: str
    pid: int
    started_at: str
    restart_policy: str
    restart_count: int
    exit_code: int
    auto_remove: bool


class OtherContainers(Part):
    before: list[OtherContainer] | None
    after: list[OtherContainer] | None
    final: list[OtherContainer] | None
    will_go_down: list[str]
    notice: str | None
    started_again: dict[str, str]
    teardown_restarted: bool
    not_back: list[str]
    error: str | None
    # observe mode (absent from earlier results): the user's containers the cell watched
    observed: list[OtherContainer] | None = None
    observed_final: list[OtherContainer] | None = None
    observed_problems: list[str] | None = None


# --- a Kubernetes cell's cluster side -----------------------------------------------------------
class ReadyTransition(Part):
    t: float
    seen_at: str
    status: str
    reason: str
    message: str
    since: str
    taints: list[str] | None


class PodState(Part):
    name: str
    uid: str
    phase: str
    ready: bool
    restarts: Count
    ip: str
    waiting: str


class Pods(Part):
    before: list[PodState]
    during: list[PodState]
    after: list[PodState]


class OutagePod(PodState):
    """The pod created while the runtime was down, as seen once."""

    sandbox_events: list[str]
    scheduled: str | None
    unscheduled_because: str | None


class ControlPlaneWait(Part):
    readyz_s: float | None
    node_ready_s: float | None
    static_pods_s: float | None
    last: str
    static_pods: list[str]


class Kubernetes(Part):
    namespace: str
    node: str
    node_ready_timeline: list[ReadyTransition]
    pods: Pods
    outage_pod: list[OutagePod]
    nginx_version: str
    outage_pod_outcome: str | None
    api_down_during_outage: bool | None
    eviction_allowed: bool | None
    control_plane_waits: list[ControlPlaneWait] | None
    findings: list[str] | None


# --- a scenario cell ---------------------------------------------------------------------------
class ScenarioObservation(Part):
    """One scenario check: what it must observe in this cell (``None``: not measured yet), what
    it observed, and what on the node made it so."""

    check: str
    phase: str
    expected: str | None
    observed: str
    detail: str
    passed: bool


class Scenario(Part):
    """The scenario a cell runs (``[scenarios.<name>]``), with its checks' observations."""

    name: str
    upstream: list[str]
    note: str
    observations: list[ScenarioObservation]


# --- the verdict --------------------------------------------------------------------------------
class Verdict(Part):
    """Expected against observed, and why; whether it passed is ``outcome``'s to say."""

    expected: str
    observed: str
    passed: bool
    reason: str


class Result(Part):
    """One cell run, in the order the file holds it."""

    schema_: Literal["lrmatrix.result/2"] = Field(alias="schema")
    cell: str
    driver: str
    platform: str | None
    variant: str | None
    node: NodeInfo
    started_at: str
    finished_at: str
    versions: dict[str, str]
    live_restore: LiveRestore
    engine: Engines | None
    timings_configured: Timings
    timing: dict[str, float]
    phases: list[Phase]
    events: list[Event]
    checks: list[Check]
    skipped_checks: list[SkippedCheck] | None
    probes: dict[str, PathSummary]
    containers: Containers
    disruption: Disruption
    recovery: dict[str, float | None]
    findings: list[str]
    other_containers: OtherContainers | None
    log_pressure: dict[str, LogPressure] | None
    upgrade: Upgrade | None
    load: Load | None
    #: only a Kubernetes cell's file has the key
    kubernetes: Kubernetes | None = None
    #: only a scenario cell's file has the key
    scenario: Scenario | None = None
    error: str | None  # why the run did not go on (an interrupt, a setup error, an abort)
    verdict: Verdict
    path_verdicts: dict[str, Verdict]

    def document(self) -> dict[str, Any]:
        """The file's content as JSON types. The keys with a default are left out where they
        were never given: ``kubernetes`` and ``scenario`` of a cell without one, and the ``recovery_s`` a /1
        file did not measure (``null`` would say "never answered again")."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def parse(data: Any) -> Result:
    """A result from a parsed JSON document, validated as JSON (arrays are tuples where the
    model says so). ``ValidationError`` when it is not one this lrmatrix writes."""
    return Result.model_validate_json(json.dumps(data))


def said(exc: ValidationError) -> str:
    """A validation error as one line: the key, what it holds, what is wrong."""
    err = exc.errors(include_url=False)[0]
    key = reduce(join, err["loc"], "")
    if err["type"] == "missing":
        return f"{key} is missing"
    if err["type"] == "extra_forbidden":
        return f"{key} is not a key of a result"
    msg = KINDS.get(err["type"]) or err["msg"][0].lower() + err["msg"][1:]
    return f"{key} = {shown(err.get('input'))} is not allowed ({msg})"


#: pydantic's words for a wrong container type name its own classes; a reader wants JSON's
KINDS = {
    "model_type": "should be an object",
    "model_attributes_type": "should be an object",
    "dict_type": "should be an object",
    "list_type": "should be a list",
    "tuple_type": "should be a list",
}


def shown(value: Any) -> str:
    """A value as JSON, shortened: enough to find it in the file."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
