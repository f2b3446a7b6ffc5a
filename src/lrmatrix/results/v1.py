"""Reading ``lrmatrix.result/1`` files into today's model: users keep old results, and
``report`` and ``compare`` must show them with the same numbers as when they were written.

/1 was written for a week without its id changing while keys were added, so a /1 file is one
of several shapes. Each key a later /1 writer added is filled here with ``None`` ("not
recorded": the model types each such key ``... | None``), never with a value the run did not
measure; a key no longer written is dropped. Two things are converted:
- samples of three or four numbers get ``-1`` (unknown) for the target and server indexes;
- a file without a ``disruption`` block gets its times from the events that stated them
  ("daemon stopping", "daemon stopped", "daemon starting", "daemon started", "config
  changing"): the only record such a file has of them, read here once so nothing else
  matches event words.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from lrmatrix.results.model import SCHEMA as V2
from lrmatrix.results.model import Result, parse

SCHEMA = "lrmatrix.result/1"

#: keys later /1 writers added, at the top and per probe path
TOP = ("engine", "skipped_checks", "other_containers", "log_pressure", "upgrade", "load")
PATH = ("stopped", "coverage", "serving", "misdirected", "targets", "servers")
DISRUPTION = ("came_back_at", "came_back", "daemon_watch", "docker_proxy", "nat")
#: a /1 file's disruption from its events: the first time each was said
EVENT_TIMES = {
    "stop_at": ("daemon stopping", "upgrade starting"),
    "stopped_at": ("daemon stopped", "daemon gone"),
    "start_at": ("daemon starting", "daemon respawned"),
    "api_at": ("daemon started",),
    "change_at": ("config changing",),
}
#: nested keys later /1 writers added (parent key: its new keys)
NESTED = {
    "timings_configured": ("upgrade_timeout_s",),
    "outage_pod": ("scheduled", "unscheduled_because"),
    "node_ready_timeline": ("taints",),
}
KUBE = (
    "outage_pod_outcome",
    "api_down_during_outage",
    "eviction_allowed",
    "control_plane_waits",
    "findings",
)
#: rounds of dropping keys the model does not name (each round may reveal nested ones)
ROUNDS = 8


def read(data: dict[str, Any]) -> Result:
    """A /1 document as a /2 result; ``ValidationError`` naming the first key it cannot read."""
    doc = filled(data)
    for _ in range(ROUNDS):
        try:
            return parse(doc)
        except ValidationError as exc:
            extra = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extra:
                raise
            for loc in extra:
                drop(doc, loc)
    return parse(doc)


def filled(data: dict[str, Any]) -> dict[str, Any]:
    """A copy with today's schema id, the keys later /1 writers added (``None``), the samples
    in today's five numbers and the disruption from the events if it has none."""
    doc = copy.deepcopy(data)
    doc["schema"] = V2
    for key in TOP:
        doc.setdefault(key, None)
    doc.setdefault("path_verdicts", {})  # before it, no cell stated a path expectation
    for path in _dicts(doc.get("probes")):
        for key in PATH:
            path.setdefault(key, None)
        if isinstance(path.get("samples"), list):
            path["samples"] = [_five(s) for s in path["samples"]]
    for parent, keys in NESTED.items():
        for item in _found(doc, parent):
            for key in keys:
                item.setdefault(key, None)
    containers = doc.get("containers") if isinstance(doc.get("containers"), dict) else {}
    for c in _dicts(containers.get("before")) + _dicts(containers.get("after")):
        c.setdefault("ip", None)
    kube = doc.get("kubernetes")
    if isinstance(kube, dict):
        for key in KUBE:
            kube.setdefault(key, None)
    if "disruption" not in doc:
        doc["disruption"] = from_events(doc.get("events"))
    elif isinstance(doc["disruption"], dict):
        for key in DISRUPTION:
            doc["disruption"].setdefault(key, None)
    return doc


def from_events(events: Any) -> dict[str, Any]:
    """The disruption's times as the events gave them (a file written before the block)."""
    said: dict[str, float] = {}
    for e in _dicts(events):
        if isinstance(e.get("name"), str) and isinstance(e.get("t"), float | int):
            said.setdefault(e["name"], e["t"])
    times = {key: next((said[n] for n in names if n in said), None) for key, names in EVENT_TIMES.items()}
    return {**times, **dict.fromkeys(DISRUPTION)}


def _five(sample: Any) -> Any:
    """[t, ok, latency] or [t, ok, latency, target]: the indexes it lacks are -1 (unknown)."""
    if isinstance(sample, list) and 3 <= len(sample) < 5:
        return [*sample, *[-1] * (5 - len(sample))]
    return sample


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in ``value`` (a list or an object's values); anything else holds none."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [v for v in items if isinstance(v, dict)]


def _found(doc: dict[str, Any], parent: str) -> list[dict[str, Any]]:
    """Every object under a key named ``parent`` (itself, or the objects of its list)."""
    kube = doc.get("kubernetes") if isinstance(doc.get("kubernetes"), dict) else {}
    for where in (doc, kube):
        if parent in where:
            value = where[parent]
            return [value] if isinstance(value, dict) else _dicts(value)
    return []


def drop(doc: Any, loc: tuple[int | str, ...]) -> None:
    """Remove the key at ``loc`` (a path of keys and list indexes)."""
    *parents, last = loc
    for key in parents:
        doc = doc[key]
    if isinstance(doc, dict):
        doc.pop(last, None)
