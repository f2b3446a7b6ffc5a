"""One row per cell, derived from result files: the numbers every report format shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from lrmatrix.results.model import Containers, Kubernetes, PathSummary, Result
from lrmatrix.results.outcome import outcome

PATH_ORDER = ("node", "loopback", "pod")


@dataclass(frozen=True)
class PathCells:
    """Per access path: failed requests while the daemon was down, the longest outage, and the
    probe's coverage of the down interval (``None`` in results written before it existed)."""

    failed_while_down: int
    sent_while_down: int
    failed: int
    sent: int
    longest_outage_ms: float
    coverage: float | None = None
    #: the share of the down time the path was failing (by send time); None in older results
    down_failed_share: float | None = None


@dataclass(frozen=True)
class Row:
    cell: str
    ran: bool
    expected: str
    observed: str
    passed: bool
    lr_configured: bool | None = None
    lr_effective: bool | None = None
    paths: dict[str, PathCells] = field(default_factory=dict)
    pids_kept: bool | None = None
    restarts: int | None = None
    ready_transitions: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    failed_checks: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    started_at: str = ""
    host: str = ""
    #: the shortest predicted log horizon of a container, and the earliest stall seen (s)
    horizon_s: float | None = None
    stalled_s: float | None = None
    #: every user check's outcome in words (a failing one is in ``failed_checks`` too)
    user_checks: list[str] = field(default_factory=list)
    #: per access path, what told its containers apart (paths of older results: absent)
    identity: dict[str, str] = field(default_factory=dict)


def row_from_result(result: Result) -> Row:
    """Everything the table needs from one result, so every format shows the same numbers."""
    verdict = result.verdict
    decided = outcome(result)
    paths = {
        name: PathCells(
            failed_while_down=p.failed_while_down,
            sent_while_down=p.sent_while_down,
            failed=p.failed,
            sent=p.sent,
            longest_outage_ms=p.longest_outage_ms,
            coverage=_coverage(p),
            down_failed_share=p.down_failed_share,
        )
        for name, p in sorted(result.probes.items(), key=lambda kv: _path_rank(kv[0]))
    }
    restarts = _container_restarts(result.containers)
    return Row(
        cell=result.cell,
        ran=True,
        expected=verdict.expected,
        observed=verdict.observed,
        passed=decided.passed,
        lr_configured=result.live_restore.configured,
        lr_effective=result.live_restore.effective,
        paths=paths,
        pids_kept=result.containers.pids_kept,
        restarts=restarts if restarts is not None else _pod_restarts(result.kubernetes),
        versions=versions_side_by_side(result),
        reason=verdict.reason,
        failed_checks=list(decided.failed_checks),
        findings=list(result.findings),
        ready_transitions=_ready_transitions(result.kubernetes),
        started_at=result.started_at,
        host=result.node.host,
        horizon_s=_least(result, "predicted_horizon_s"),
        stalled_s=_least(result, "stalled_at_s"),
        user_checks=_user_checks(result),
        identity={name: p.identity for name, p in sorted(result.probes.items()) if p.identity},
    )


def _user_checks(result: Result) -> list[str]:
    """Passed ones too: a user reads that their own check ran, not only that nothing failed."""
    ran = [
        f"user check {c.phase}/{c.id} ({c.source}): " + ("passed" if c.passed else f"failed: {c.detail}")
        for c in result.checks
        if c.source
    ]
    skipped = [
        f"user check {c.phase}/{c.id} ({c.source}): skipped: {c.detail}"
        for c in result.skipped_checks or []
        if c.source
    ]
    return ran + skipped


def _least(result: Result, key: str) -> float | None:
    """The smallest ``log_pressure.<container>.<key>`` (results before it existed: ``None``)."""
    values = [getattr(p, key) for p in (result.log_pressure or {}).values()]
    return min((v for v in values if v is not None), default=None)


def _coverage(path: PathSummary) -> float | None:
    """The lowest coverage of the path or any of its containers: the figure the verdict needs
    (``None`` in results written before it existed, or without a down interval)."""
    cov = path.coverage
    if cov is None:
        return None
    return min([cov.ratio, *(c.ratio for c in cov.targets.values())])


def _container_restarts(containers: Containers) -> int | None:
    """Containers whose start time changed across the outage (engine: from the Docker API)."""
    before = {c.name: c for c in containers.before}
    if not containers.after or not before:
        return None
    return sum(1 for c in containers.after if c.name in before and c.started_at != before[c.name].started_at)


def _ready_transitions(kube: Kubernetes | None) -> int | None:
    """Kubernetes cells keep the node's Ready condition over time (first entry: the initial
    state); engine cells have no Kubernetes node, so None rather than a misleading 0."""
    return None if kube is None else max(len(kube.node_ready_timeline) - 1, 0)


def _pod_restarts(kube: Kubernetes | None) -> int | None:
    """Container restarts the kubelet counted across the outage, plus pods that were replaced."""
    if kube is None:
        return None
    before = {p.name: p for p in kube.pods.before}
    after = {p.name: p for p in kube.pods.after}
    if not before or not after:
        return None
    kept = before.keys() & after.keys()
    return sum(after[n].restarts - before[n].restarts for n in kept) + len(before.keys() - kept)


def _path_rank(name: str) -> int:
    return PATH_ORDER.index(name) if name in PATH_ORDER else len(PATH_ORDER)


def not_run(cell: str, expected: str = "") -> Row:
    """A cell of the matrix with no result: shown, never silently missing."""
    return Row(cell=cell, ran=False, expected=expected, observed="not run", passed=False)


def build_rows(results: list[Result], matrix_cells: list[tuple[str, str]] | None = None) -> list[Row]:
    """Rows in matrix order (cells without a result as "not run"), then any extra results."""
    by_cell = {r.cell: r for r in results}
    rows: list[Row] = []
    for name, expected in matrix_cells or []:
        rows.append(row_from_result(by_cell.pop(name)) if name in by_cell else not_run(name, expected))
    rows.extend(row_from_result(r) for _, r in sorted(by_cell.items()))
    return rows


def versions_side_by_side(result: Result) -> dict[str, str]:
    """What the node reported; where an upgrade cell's engine answered with another version
    after the window, ``before → after``."""
    after = result.engine.after if result.engine is not None else {}
    before = result.versions
    return {k: f"{v} → {after[k]}" if after.get(k) and after[k] != v else v for k, v in before.items()}
