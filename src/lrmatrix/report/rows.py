"""One row per cell, derived from result files: the numbers every report format shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def row_from_result(result: dict[str, Any]) -> Row:
    """Everything the table needs from one result, so every format shows the same numbers."""
    verdict = result["verdict"]
    paths = {
        name: PathCells(
            failed_while_down=int(p.get("failed_while_down", 0)),
            sent_while_down=int(p.get("sent_while_down", 0)),
            failed=int(p.get("failed", 0)),
            sent=int(p.get("sent", 0)),
            longest_outage_ms=float(p.get("longest_outage_ms", 0.0)),
            coverage=_coverage(p),
        )
        for name, p in sorted(result["probes"].items(), key=lambda kv: _path_rank(kv[0]))
    }
    containers = result.get("containers") or {}
    restarts = _container_restarts(containers)
    lr = result.get("live_restore") or {}
    return Row(
        cell=result["cell"],
        ran=True,
        expected=str(verdict.get("expected", "")),
        observed=str(verdict.get("observed", "")),
        passed=bool(verdict.get("passed"))
        and all(c["passed"] for c in result["checks"])
        and all(v.get("passed") for v in (result.get("path_verdicts") or {}).values()),
        lr_configured=lr.get("configured"),
        lr_effective=lr.get("effective"),
        paths=paths,
        pids_kept=containers.get("pids_kept"),
        restarts=restarts if restarts is not None else _pod_restarts(result),
        versions=versions_side_by_side(result),
        reason=str(verdict.get("reason", "")),
        failed_checks=[f"{c['phase']}/{c['id']}" for c in result["checks"] if not c["passed"]],
        findings=list(result.get("findings") or []),
        ready_transitions=_ready_transitions(result),
        started_at=str(result.get("started_at", "")),
        host=str((result.get("node") or {}).get("host") or ""),
        horizon_s=_least(result, "predicted_horizon_s"),
        stalled_s=_least(result, "stalled_at_s"),
    )


def _least(result: dict[str, Any], key: str) -> float | None:
    """The smallest ``log_pressure.<container>.<key>`` (results before it existed: ``None``)."""
    values = [p.get(key) for p in (result.get("log_pressure") or {}).values() if isinstance(p, dict)]
    return min((float(v) for v in values if v is not None), default=None)


def _coverage(path: dict[str, Any]) -> float | None:
    """The lowest coverage of the path or any of its containers: the figure the verdict needs."""
    cov = path.get("coverage")
    if not isinstance(cov, dict) or "ratio" not in cov:
        return None
    per_target = [
        c["ratio"] for c in (cov.get("targets") or {}).values() if isinstance(c, dict) and "ratio" in c
    ]
    return float(min([cov["ratio"], *per_target]))


def _container_restarts(containers: dict[str, Any]) -> int | None:
    """Containers whose start time changed across the outage (engine: from the Docker API)."""
    after = containers.get("after") or []
    before = {c["name"]: c for c in containers.get("before") or []}
    if not after or not before:
        return None
    return sum(1 for c in after if c["name"] in before and c["started_at"] != before[c["name"]]["started_at"])


def _ready_transitions(result: dict[str, Any]) -> int | None:
    """Kubernetes cells keep the node's Ready condition over time (first entry: the initial
    state); engine cells have no Kubernetes node, so None rather than a misleading 0."""
    timeline = (result.get("kubernetes") or {}).get("node_ready_timeline")
    return max(len(timeline) - 1, 0) if isinstance(timeline, list) else None


def _pod_restarts(result: dict[str, Any]) -> int | None:
    """Container restarts the kubelet counted across the outage, plus pods that were replaced."""
    pods = (result.get("kubernetes") or {}).get("pods") or {}
    before = {p["name"]: p for p in pods.get("before") or []}
    after = {p["name"]: p for p in pods.get("after") or []}
    if not before or not after:
        return None
    kept = before.keys() & after.keys()
    return sum(after[n]["restarts"] - before[n]["restarts"] for n in kept) + len(before.keys() - kept)


def _path_rank(name: str) -> int:
    return PATH_ORDER.index(name) if name in PATH_ORDER else len(PATH_ORDER)


def not_run(cell: str, expected: str = "") -> Row:
    """A cell of the matrix with no result: shown, never silently missing."""
    return Row(cell=cell, ran=False, expected=expected, observed="not run", passed=False)


def build_rows(results: list[dict[str, Any]], matrix_cells: list[tuple[str, str]] | None = None) -> list[Row]:
    """Rows in matrix order (cells without a result as "not run"), then any extra results."""
    by_cell = {r["cell"]: r for r in results}
    rows: list[Row] = []
    for name, expected in matrix_cells or []:
        rows.append(row_from_result(by_cell.pop(name)) if name in by_cell else not_run(name, expected))
    rows.extend(row_from_result(r) for _, r in sorted(by_cell.items()))
    return rows


def versions_side_by_side(result: dict[str, Any]) -> dict[str, str]:
    """What the node reported; where an upgrade cell's engine answered with another version
    after the window, ``before → after``."""
    before = {k: str(v) for k, v in (result.get("versions") or {}).items()}
    after = ((result.get("engine") or {}).get("after")) or {}
    return {k: f"{v} → {after[k]}" if after.get(k) and str(after[k]) != v else v for k, v in before.items()}
