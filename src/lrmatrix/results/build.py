"""A run's result, built from its evidence records: what the result file says, in one place.

Times inside it are seconds since ``started_at`` (the run's monotonic clock); every key is
always present, ``None`` where the run never got that far. The dict is validated into the
``Result`` model before anyone writes it: a key the model does not name, a wrong type or a
NaN is a harness bug, said in one line, never a file a reader later refuses.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lrmatrix.evidence.disruption import disruption
from lrmatrix.evidence.findings import address_changes, findings, misdirected_responses
from lrmatrix.evidence.judge import judge
from lrmatrix.evidence.log_pressure import LogPressure
from lrmatrix.evidence.other_containers import OtherContainers
from lrmatrix.evidence.records import (
    Check,
    DaemonWatched,
    Event,
    LiveRestoreApplied,
    LoadEvidence,
    NatWatched,
    NodeFacts,
    PhaseSpan,
    ProbeEvidence,
    SkippedCheck,
    Started,
    Stopped,
    Timing,
    WindowEnded,
)
from lrmatrix.evidence.upgrade import Upgraded
from lrmatrix.evidence.verdict import Verdict
from lrmatrix.kube.records import KubeObservations
from lrmatrix.results.files import summarize_path
from lrmatrix.results.model import SCHEMA, Result, parse, said
from lrmatrix.results.outcome import met
from lrmatrix.scenarios.observation import Observation, mismatch
from lrmatrix.workload.snapshot import Snapshot

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.evidence.store import Evidence
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.clock import RunClock
    from lrmatrix.run.runner import Status


def build(cell: Cell, node: Node, clock: RunClock, evidence: Evidence, status: Status) -> Result:
    """The result of the run as it stands (called once it has ended)."""
    data = document(cell, node, clock, evidence, status)
    try:
        return parse(data)
    except ValidationError as exc:
        raise ValueError(f"the result of {cell.name} does not fit the result model: {said(exc)}") from exc


def document(cell: Cell, node: Node, clock: RunClock, evidence: Evidence, status: Status) -> dict[str, Any]:
    """The result as JSON types, in the order the file holds them."""
    verdicts = judge(cell, evidence, clock.t0, status.stopped_by)
    verdict = verdicts.verdict
    paths = verdicts.paths
    if status.interrupted:  # whatever the probe saw, the scenario did not run to its end
        verdict = Verdict(cell.expect, "interrupted", status.interrupted)
        paths = {p: Verdict(v.expected, "interrupted", status.interrupted) for p, v in paths.items()}
    d = disruption(evidence, clock.t0)
    probe = evidence.last(ProbeEvidence)
    interval = cell.timings.probe_interval_s
    probes = {
        name: summarize_path(rec, clock.t0, d, interval)
        for name, rec in (probe.records if probe else {}).items()
    }
    facts = evidence.last(NodeFacts)
    versions = facts.versions if facts else {}
    started = evidence.last(Started)
    applied = evidence.last(LiveRestoreApplied)
    containers = containers_summary(evidence)
    nat = evidence.last(NatWatched)
    nat_summary = nat.summary if nat else None
    pressure = evidence.last(LogPressure)
    kube = evidence.last(KubeObservations)
    upgraded = evidence.last(Upgraded)
    load = evidence.last(LoadEvidence)
    others = evidence.last(OtherContainers)
    return {
        "schema": SCHEMA,
        "cell": cell.name,
        "driver": node.scheme,
        "platform": cell.platform,
        "variant": cell.variant,
        "node": {
            "address": facts.address if facts else None,
            "name": facts.name if facts else "",
            "host": platform.node(),
        },
        "started_at": clock.iso(clock.t0),
        "finished_at": clock.iso(),
        "versions": {**versions, **({"kubernetes": cell.kubernetes} if cell.kubernetes else {})},
        "live_restore": {
            "configured": cell.live_restore,
            "effective": applied.effective if applied else None,
        },
        # the engine the node started with and the one that answered after the window
        "engine": {
            "before": {"name": cell.engine.name, **versions},
            "after": {"name": cell.next_engine.name, **(started.versions_after if started else {})},
        },
        "timings_configured": vars(cell.timings),
        "timing": {t.key: t.seconds for t in evidence.all(Timing)},
        "phases": [
            {
                "name": p.name,
                "started_at": clock.iso(p.start),
                "finished_at": clock.iso(p.end) if p.end is not None else None,
                "t_start": clock.rel(p.start),
                "t_end": clock.rel_or_none(p.end),
            }
            for p in phases(evidence)
        ],
        "events": [
            {"name": e.name, "t": clock.rel(e.t), "at": clock.iso(e.t), "detail": e.detail}
            for e in sorted(evidence.all(Event), key=lambda e: e.t)
        ],
        "checks": [vars(c) for c in evidence.all(Check)],
        "skipped_checks": [vars(c) for c in evidence.all(SkippedCheck)],
        "probes": probes,
        "containers": containers,
        "disruption": disruption_summary(evidence, clock, nat_summary),
        # per path: seconds after the API answered again until every target answered too
        "recovery": {name: p["recovery_s"] for name, p in probes.items()},
        "findings": findings(
            probes,
            clock.rel_or_none(d.stop_at),
            clock.rel_or_none(d.start_at),
            clock.rel_or_none(d.change_at),
            nat=nat_summary,
            proxies=proxies(evidence),
        )
        + address_changes(containers["before"], containers["after"])
        + misdirected_responses(probes)
        # without live-restore the containers stop with the daemon: no horizon to state
        + (pressure.findings() if pressure is not None and cell.live_restore else [])
        + (kube.findings if kube is not None else [])
        + (upgraded.run.findings(clock.t0, clock.wall0) if upgraded is not None else [])
        + (others.findings() if others is not None else []),
        "other_containers": others.as_dict() if others is not None else None,
        "log_pressure": pressure.as_dict() if pressure is not None else {},
        "upgrade": upgraded.run.as_dict(clock.t0, clock.wall0) if upgraded is not None else None,
        "load": load.summary if load is not None else None,
        **({"kubernetes": kube.summary} if kube is not None else {}),
        **({"scenario": scenario_summary(cell, evidence)} if cell.scenario is not None else {}),
        "error": status.stopped_by,
        "verdict": judged(verdict),
        "path_verdicts": {path: judged(v) for path, v in paths.items()},
    }


def scenario_summary(cell: Cell, evidence: Evidence) -> dict[str, Any]:
    """The cell's scenario and each check's observation beside the value it must observe."""
    scenario = cell.scenario
    assert scenario is not None
    return {
        "name": scenario.name,
        "upstream": list(scenario.upstream),
        "note": scenario.note,
        "observations": [
            {
                "check": o.check,
                "phase": o.phase,
                "expected": o.expected,
                "observed": o.observed,
                "detail": o.detail,
                "passed": mismatch(o, o.expected, "", scenario.name) is None,
            }
            for o in evidence.all(Observation)
        ],
    }


def judged(v: Verdict) -> dict[str, Any]:
    """A verdict as the file keeps it; ``passed`` as ``outcome`` decides it."""
    return {"expected": v.expected, "observed": v.observed, "passed": met(v), "reason": v.reason}


def phases(evidence: Evidence) -> list[PhaseSpan]:
    """Each phase once, with its end as last recorded."""
    spans: dict[str, PhaseSpan] = {}
    for span in evidence.all(PhaseSpan):
        spans[span.name] = span
    return list(spans.values())


def proxies(evidence: Evidence) -> dict[str, list[int] | None]:
    """This node's docker-proxy processes before the stop, once the daemon was gone, and at the
    start command (``None``: not looked at)."""
    stopped, window = evidence.last(Stopped), evidence.last(WindowEnded)
    return {
        "before_stop": stopped.proxies_before if stopped else None,
        "gone": stopped.proxies_gone if stopped else None,
        "before_start": window.proxies_before_start if window else None,
    }


def disruption_summary(evidence: Evidence, clock: RunClock, nat: dict[str, Any] | None) -> dict[str, Any]:
    """Times since the start (the watch's own record beside them), and what was watched."""
    d = disruption(evidence, clock.t0)
    times = ("stop_at", "stopped_at", "start_at", "api_at", "change_at", "came_back_at")
    watched = evidence.last(DaemonWatched)
    return {
        **{k: clock.rel_or_none(getattr(d, k)) for k in times},
        "came_back": d.came_back,
        "daemon_watch": watched.summary if watched else None,
        "docker_proxy": proxies(evidence),
        "nat": nat,
    }


def containers_summary(evidence: Evidence) -> dict[str, Any]:
    """The containers before and after, with their process ids; whether every process that
    ran before the stop still ran after the restart."""
    before, after = evidence.last(Snapshot, which="before"), evidence.last(Snapshot, which="after")

    def dump(snap: Snapshot | None) -> list[dict[str, Any]]:
        if snap is None:
            return []
        return [{**vars(c), "procs": [p.pid for p in snap.procs.get(c.name, [])]} for c in snap.containers]

    kept = None
    if before and after:
        was = {p.key for p in before.all_procs()}
        kept = bool(was) and was <= {p.key for p in after.all_procs()}
    return {"before": dump(before), "after": dump(after), "pids_kept": kept}
