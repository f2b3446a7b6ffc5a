"""What a reader of a result file (``report``, ``compare``, ``run``'s table) relies on, as
pydantic models: the one place a result is checked before it is read.

A key a reader uses has its type here, and a wrong one is one line naming the file and the
key: ``report`` once ended in a traceback on a wrong type, and ``compare`` called a NaN outage
"same behaviour" (NaN and Infinity are refused while parsing, in ``results.read_json``).
Keys that older results lack are optional; keys no reader uses are let through unchecked.
The writer does not use these models yet (the result as one model is a later step).
"""

from __future__ import annotations

import json
from functools import reduce
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lrmatrix.results.documents import join

#: finite (NaN and infinity refused), never a bool: strict mode keeps ``true`` out of numbers
Number = float
Count = Annotated[int, Field(ge=0)]
Seconds = float | None


class Part(BaseModel):
    """Every object of a result: types strict, no NaN or infinity, other keys kept as they are."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)


class Verdict(Part):
    expected: str
    observed: str
    passed: bool
    reason: str = ""


class Check(Part):
    id: str
    phase: str
    passed: bool
    detail: str | None = None


class SkippedCheck(Part):
    id: str
    phase: str
    detail: str | None = None


class Ratio(Part):
    ratio: Annotated[float, Field(ge=0)]


class Coverage(Ratio):
    targets: dict[str, Ratio] = Field(default_factory=dict)


#: [t, ok, latency_ms, target index, server index]; results before the indexes have three
ProbeSample = Annotated[list[Number | None], Field(min_length=3)]


class PathSummary(Part):
    sent: Count
    failed: Count
    sent_while_down: Count
    failed_while_down: Count
    longest_outage_ms: Annotated[float, Field(ge=0)]
    windows: list[Annotated[list[Number | None], Field(min_length=2, max_length=2)]]
    recovery_s: Seconds = None
    coverage: Coverage | None = None
    samples: list[ProbeSample] = Field(default_factory=list)


class Phase(Part):
    name: str
    t_start: Seconds = None
    t_end: Seconds = None


class Event(Part):
    name: str
    t: Number
    detail: str | None = None


class LiveRestore(Part):
    configured: bool | None = None
    effective: bool | None = None


class Container(Part):
    name: str
    started_at: str | None = None


class Containers(Part):
    before: list[Container] = Field(default_factory=list)
    after: list[Container] = Field(default_factory=list)
    pids_kept: bool | None = None


class Pod(Part):
    name: str
    restarts: Count


class Pods(Part):
    before: list[Pod] = Field(default_factory=list)
    after: list[Pod] = Field(default_factory=list)


class Kubernetes(Part):
    node_ready_timeline: list[Any] | None = None
    pods: Pods | None = None


class LogPressure(Part):
    predicted_horizon_s: Seconds = None
    stalled_at_s: Seconds = None


class Timings(Part):
    probe_interval_s: Annotated[float, Field(gt=0)] | None = None


class NodeInfo(Part):
    host: str | None = None


class Engines(Part):
    after: dict[str, Any] | None = None


class PathVerdict(Part):
    passed: bool


#: version strings by component; numbers are shown as they are
Versions = dict[str, str | int | float | None]


class ResultFile(Part):
    """The top of a result file: the keys every reader may use."""

    schema_: str = Field(alias="schema")
    cell: str
    driver: str
    started_at: str
    finished_at: str | None
    platform: str | None = None
    variant: str | None = None
    versions: Versions
    live_restore: LiveRestore
    phases: list[Phase]
    events: list[Event] = Field(default_factory=list)
    checks: list[Check]
    skipped_checks: list[SkippedCheck] = Field(default_factory=list)
    probes: dict[str, PathSummary]
    verdict: Verdict
    path_verdicts: dict[str, PathVerdict] = Field(default_factory=dict)
    containers: Containers | None = None
    kubernetes: Kubernetes | None = None
    log_pressure: dict[str, LogPressure] | None = None
    timings_configured: Timings | None = None
    node: NodeInfo | None = None
    engine: Engines | None = None
    findings: list[str] = Field(default_factory=list)


def problem(data: dict[str, Any]) -> str | None:
    """The first key a reader relies on that has the wrong type or value, in one line; ``None``
    when every reader can trust the document."""
    try:
        ResultFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = reduce(join, err["loc"], "")
        if err["type"] == "missing":
            return f"{key} is missing"
        msg = KINDS.get(err["type"]) or err["msg"][0].lower() + err["msg"][1:]
        return f"{key} = {shown(err.get('input'))} is not allowed ({msg})"
    return None


#: pydantic's words for a wrong container type name its own classes; a reader wants JSON's
KINDS = {
    "model_type": "should be an object",
    "dict_type": "should be an object",
    "list_type": "should be a list",
}


def shown(value: Any) -> str:
    """A value as JSON, shortened: enough to find it in the file."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
