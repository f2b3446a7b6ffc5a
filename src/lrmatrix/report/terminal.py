"""The terminal table: cells as rows, aligned plain text (no colour codes in files or CI logs)."""

from __future__ import annotations

from lrmatrix.report.rows import Row


def _yn(value: bool | None) -> str:
    return "-" if value is None else ("on" if value else "off")


def _path(row: Row, name: str) -> str:
    p = row.paths.get(name)
    if p is None:
        return "-"
    return f"{p.failed_while_down}/{p.sent_while_down} {p.longest_outage_ms / 1000:.3f}s"


def table_cells(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and body shared by the terminal and Markdown renderers."""
    paths = [n for n in ("node", "loopback", "pod") if any(n in r.paths for r in rows)]
    header = [
        "cell",
        "result",
        "expected",
        "observed",
        "live-restore cfg/eff",
        *[f"{p} failed-while-down / longest outage" for p in paths],
        "PIDs kept",
        "restarts",
        "docker",
        "containerd",
        "runc",
        "kubernetes",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r.cell,
                "PASS" if r.passed else ("NOT RUN" if not r.ran else "FAIL"),
                r.expected or "-",
                r.observed,
                f"{_yn(r.lr_configured)}/{_yn(r.lr_effective)}",
                *[_path(r, p) for p in paths],
                "-" if r.pids_kept is None else ("yes" if r.pids_kept else "no"),
                "-" if r.restarts is None else str(r.restarts),
                r.versions.get("docker", "-"),
                r.versions.get("containerd", "-"),
                r.versions.get("runc", "-"),
                r.versions.get("kubernetes", "-"),
            ]
        )
    return header, body


def render(rows: list[Row]) -> str:
    header, body = table_cells(rows)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*line) for line in body]
    notes = [f"{r.cell}: {f}" for r in rows for f in r.findings]
    notes += [f"{r.cell}: failed check {c}" for r in rows for c in r.failed_checks]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
