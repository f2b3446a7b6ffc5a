"""The matrix table as strings: one header and one body shared by every renderer.

Terminal, Markdown and HTML escape and lay it out differently but must show the same
cells, so the wording of each cell lives here once.
"""

from __future__ import annotations

from lrmatrix.report.rows import PATH_ORDER, Row


def status(row: Row) -> str:
    """PASS / FAIL / NOT RUN: a cell without a result is never shown as passed or failed."""
    if not row.ran:
        return "NOT RUN"
    return "PASS" if row.passed else "FAIL"


def _onoff(value: bool | None) -> str:
    return "-" if value is None else ("on" if value else "off")


def _path(row: Row, name: str) -> str:
    p = row.paths.get(name)
    if p is None:
        return "-"
    cov = "-" if p.coverage is None else f"{p.coverage:.0%}"
    return f"{p.failed_while_down}/{p.sent_while_down} {p.longest_outage_ms / 1000:.3f}s {cov}"


def _horizon(row: Row) -> str:
    """The first stall seen, with the horizon that predicted it; else the prediction alone."""
    predicted = "-" if row.horizon_s is None else f"~{row.horizon_s:.0f}s"
    return predicted if row.stalled_s is None else f"stalled {row.stalled_s:.1f}s ({predicted})"


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)


def table_cells(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and body; path and Kubernetes columns appear only when some cell has them."""
    paths = [n for n in PATH_ORDER if any(n in r.paths for r in rows)]
    kube = any(r.ready_transitions is not None or "kubernetes" in r.versions for r in rows)
    header = [
        "cell",
        "result",
        "expected",
        "observed",
        "live-restore cfg/eff",
        *[f"{p} failed-while-down / longest outage / coverage" for p in paths],
        "PIDs kept",
        "restarts",
        "log horizon",
        *(["node Ready transitions"] if kube else []),
        "docker",
        "containerd",
        "runc",
        *(["kubernetes"] if kube else []),
    ]
    body = []
    for r in rows:
        body.append(
            [
                r.cell,
                status(r),
                r.expected or "-",
                r.observed,
                f"{_onoff(r.lr_configured)}/{_onoff(r.lr_effective)}",
                *[_path(r, p) for p in paths],
                "-" if r.pids_kept is None else ("yes" if r.pids_kept else "no"),
                _opt(r.restarts),
                _horizon(r),
                *([_opt(r.ready_transitions)] if kube else []),
                r.versions.get("docker", "-"),
                r.versions.get("containerd", "-"),
                r.versions.get("runc", "-"),
                *([r.versions.get("kubernetes", "-")] if kube else []),
            ]
        )
    return header, body


def notes(row: Row) -> list[str]:
    """What a reader should know beyond the numbers: findings, then failed checks, in words."""
    out = list(row.findings)
    if row.ran and not row.passed and row.reason:
        out.append(f"verdict: {row.reason}")
    out += [f"failed check {c}" for c in row.failed_checks]
    return out
