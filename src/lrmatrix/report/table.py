"""The matrix table as strings: one header and one body shared by every renderer.

Terminal, Markdown and HTML escape and lay it out differently but must show the same
cells, so the wording of each cell lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lrmatrix.report.rows import PATH_ORDER, Row


def status(row: Row) -> str:
    """PASS / FAIL / NOT RUN: a cell without a result is never shown as passed or failed."""
    if not row.ran:
        return "NOT RUN"
    return "PASS" if row.passed else "FAIL"


def _onoff(value: bool | None) -> str:
    return "-" if value is None else ("on" if value else "off")


def _live_restore(row: Row) -> str:
    return f"{_onoff(row.lr_configured)}/{_onoff(row.lr_effective)}"


def _path(row: Row, name: str, coverage: bool = True) -> str:
    p = row.paths.get(name)
    if p is None:
        return "-"
    # the failed share of the down time beside the request counts: "28/144" alone reads as 19 %
    # (in the terminal's short form just "83%": the words would squeeze every column to "…")
    share = p.down_failed_share
    said = (f" ({share:.0%} of down)" if coverage else f" {share:.0%}") if share else ""
    text = f"{p.failed_while_down}/{p.sent_while_down}{said} {p.longest_outage_ms / 1000:.3f}s"
    if not coverage:
        return text
    return f"{text} {'-' if p.coverage is None else f'{p.coverage:.0%}'}"


def _horizon(row: Row) -> str:
    """The first stall seen, with the horizon that predicted it; else the prediction alone."""
    predicted = "-" if row.horizon_s is None else f"~{row.horizon_s:.0f}s"
    return predicted if row.stalled_s is None else f"stalled {row.stalled_s:.1f}s ({predicted})"


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    """A column: its full header and text (Markdown, HTML, ``--wide``), and its header and text
    in the default terminal table (no short header: shown with ``--wide`` only, like
    ``kubectl get -o wide``)."""

    header: str
    value: Callable[[Row], str]
    short: str | None = None
    short_value: Callable[[Row], str] | None = None

    def text(self, row: Row, *, wide: bool) -> str:
        return (self.value if wide or self.short_value is None else self.short_value)(row)


def columns(rows: list[Row]) -> list[Column]:
    """Every column; path and Kubernetes columns appear only when some cell has them."""
    paths = [n for n in PATH_ORDER if any(n in r.paths for r in rows)]
    kube = any(r.ready_transitions is not None or "kubernetes" in r.versions for r in rows)

    def path_column(name: str) -> Column:
        full = f"{name} failed-while-down (share of down time) / longest outage / coverage"
        short = f"{name} path\nfailed outage"  # the share, when there is one, after the counts
        return Column(full, lambda r: _path(r, name), short, lambda r: _path(r, name, False))

    def version(name: str) -> Column:
        return Column(name, lambda r: r.versions.get(name, "-"))

    def same(header: str, value: Callable[[Row], str]) -> Column:
        return Column(header, value, header)

    return [
        same("cell", lambda r: r.cell),
        same("result", status),
        same("expected", lambda r: r.expected or "-"),
        same("observed", lambda r: r.observed),
        Column("live-restore cfg/eff", _live_restore, "LR\ncfg/eff"),
        *[path_column(p) for p in paths],
        Column("PIDs kept", lambda r: "-" if r.pids_kept is None else ("yes" if r.pids_kept else "no")),
        Column("restarts", lambda r: _opt(r.restarts)),
        Column("log horizon", _horizon),
        *([Column("node Ready transitions", lambda r: _opt(r.ready_transitions))] if kube else []),
        version("docker"),
        *([version("cri-dockerd")] if kube else []),
        version("containerd"),
        version("runc"),
        *([version("kubernetes")] if kube else []),
    ]


def table_cells(rows: list[Row], *, wide: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and body: every column, or (``wide=False``) the default terminal table's."""
    shown = [c for c in columns(rows) if wide or c.short]
    header = [c.header if wide else str(c.short) for c in shown]
    return header, [[c.text(r, wide=wide) for c in shown] for r in rows]


def notes(row: Row) -> list[str]:
    """What a reader should know beyond the numbers: findings, then failed checks, then the
    user's own checks, in words (a failed user check once, among the latter)."""
    out = list(row.findings)
    if row.ran and not row.passed and row.reason:
        out.append(f"verdict: {row.reason}")
    out += [f"failed check {c}" for c in row.failed_checks if "(user check, " not in c]
    return out + row.user_checks


def identity_lines(row: Row) -> list[str]:
    """One line per access path: what told its containers apart ("node: one address per
    container ...", "node: none: ... cannot be told apart"), in the table's path order."""
    order = [*PATH_ORDER, *sorted(set(row.identity) - set(PATH_ORDER))]
    return [f"{name}: {row.identity[name]}" for name in order if name in row.identity]
