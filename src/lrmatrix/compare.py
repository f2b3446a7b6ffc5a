"""Pre-upgrade comparison: pair the cells of two runs and say what changed, as data.

An upgrade is gated on this, so nothing is dropped: a cell on one side only is a pair
of its own, and each change carries its effect (regression, improvement or info) so the
exit code and every output format agree. Rendering lives in ``report/comparison.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from lrmatrix.errors import BadInput
from lrmatrix.matrix import CELL_NAME

Effect = Literal["regression", "improvement", "info"]
SCHEMA = "lrmatrix.compare/1"
VERDICT_PATH = "node"  # the verdict is decided on this access path
DEFAULT_TOLERANCE_MS = 1000.0


@dataclass(frozen=True)
class Change:
    kind: str  # verdict | outage | check | version | cell
    effect: Effect
    what: str


@dataclass(frozen=True)
class Pair:
    baseline: str | None
    candidate: str | None
    changes: tuple[Change, ...] = ()

    @property
    def name(self) -> str:
        if self.baseline == self.candidate or not (self.baseline and self.candidate):
            return str(self.baseline or self.candidate)
        return f"{self.baseline} -> {self.candidate}"

    @property
    def regression(self) -> bool:
        return any(c.effect == "regression" for c in self.changes)

    @property
    def status(self) -> str:
        if self.candidate is None:
            return "only in baseline"
        if self.baseline is None:
            return "only in candidate"
        if self.regression:
            return "regression"
        return "changed" if any(c.kind != "version" for c in self.changes) else "same behaviour"


@dataclass(frozen=True)
class Comparison:
    pairs: tuple[Pair, ...]
    tolerance_ms: float
    pair_map: dict[str, str] = field(default_factory=dict)

    @property
    def regression(self) -> bool:
        return any(p.regression for p in self.pairs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tolerance_ms": self.tolerance_ms,
            "pair": self.pair_map,
            "regression": self.regression,
            "pairs": [
                {
                    "baseline": p.baseline,
                    "candidate": p.candidate,
                    "status": p.status,
                    "changes": [vars(c) for c in p.changes],
                }
                for p in self.pairs
            ],
        }


def parse_pairs(specs: list[str]) -> dict[str, str]:
    """``--pair k8s128=k8s130``: baseline platform -> candidate platform."""
    out: dict[str, str] = {}
    for spec in specs:
        base, sep, cand = spec.partition("=")
        if not sep or not base or not cand or "-" in base + cand:
            raise BadInput(f"--pair {spec!r}: use BASELINE_PLATFORM=CANDIDATE_PLATFORM, e.g. k8s128=k8s130")
        if base in out:
            raise BadInput(f"--pair: platform {base!r} is paired twice")
        out[base] = cand
    return out


def cell_key(result: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """(platform, variant, extras) of a result; older results lack platform/variant keys."""
    cell = str(result["cell"])
    match = CELL_NAME.match(cell)
    if not match:
        raise BadInput(f"result for {cell!r}: not a cell name ({CELL_NAME.pattern})")
    platform = str(result.get("platform") or match.group(1))
    variant = str(result.get("variant") or match.group(2))
    return platform, variant, tuple(cell.split("-")[2:])


def _index(
    results: list[dict[str, Any]], side: str, pair_map: dict[str, str]
) -> dict[tuple[str, str, tuple[str, ...]], dict[str, Any]]:
    out: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = {}
    for r in results:
        platform, variant, extras = cell_key(r)
        key = (pair_map.get(platform, platform), variant, extras)
        if key in out:
            target = "-".join((key[0], key[1], *key[2]))
            raise BadInput(
                f"{side}: {out[key]['cell']} and {r['cell']} both pair with {target}; "
                "narrow the input or the --pair mapping"
            )
        out[key] = r
    return out


def compare(
    baseline: list[dict[str, Any]],
    candidate: list[dict[str, Any]],
    tolerance_ms: float = DEFAULT_TOLERANCE_MS,
    pair_map: dict[str, str] | None = None,
) -> Comparison:
    """Pair by (platform, variant, extras), baseline platforms renamed through ``pair_map``."""
    pair_map = pair_map or {}
    if not baseline or not candidate:
        raise BadInput(f"no result files in the {'baseline' if not baseline else 'candidate'}")
    if not math.isfinite(tolerance_ms) or tolerance_ms < 0:
        raise BadInput(f"--tolerance-ms must be a finite number of milliseconds >= 0, got {tolerance_ms}")
    platforms = {cell_key(r)[0] for r in baseline}
    unknown = sorted(set(pair_map) - platforms)
    if unknown:
        raise BadInput(f"--pair {unknown[0]}=...: no baseline result has platform {unknown[0]}")
    base = _index(baseline, "baseline", pair_map)
    cand = _index(candidate, "candidate", {})
    pairs = []
    for key in sorted(set(base) | set(cand)):
        b, c = base.get(key), cand.get(key)
        pairs.append(
            Pair(
                baseline=b["cell"] if b else None,
                candidate=c["cell"] if c else None,
                changes=tuple(_changes(b, c, tolerance_ms)),
            )
        )
    return Comparison(pairs=tuple(pairs), tolerance_ms=tolerance_ms, pair_map=pair_map)


def _changes(b: dict[str, Any] | None, c: dict[str, Any] | None, tolerance_ms: float) -> list[Change]:
    if c is None:
        return [Change("cell", "regression", "not run in the candidate: its behaviour is unknown")]
    if b is None:
        passed = bool(c["verdict"].get("passed"))
        return [
            Change(
                "cell",
                "info" if passed else "regression",
                f"new in the candidate: observed {c['verdict'].get('observed')}, "
                f"expected {c['verdict'].get('expected')}",
            )
        ]
    return [
        *verdict_changes(b["verdict"], c["verdict"]),
        *outage_changes(b, c, tolerance_ms),
        *check_changes(b["checks"], c["checks"]),
        *version_changes(b.get("versions") or {}, c.get("versions") or {}),
    ]


def verdict_changes(b: dict[str, Any], c: dict[str, Any]) -> list[Change]:
    """A flip is a regression unless the candidate now meets its expectation."""
    out = []
    if b.get("expected") != c.get("expected"):
        out.append(Change("verdict", "info", f"expected {b.get('expected')} -> {c.get('expected')}"))
    if b.get("observed") != c.get("observed"):
        effect: Effect = "improvement" if c.get("passed") and not b.get("passed") else "regression"
        if c.get("passed") and b.get("passed"):
            effect = "info"
        out.append(
            Change(
                "verdict",
                effect,
                f"verdict changed: observed {b.get('observed')} -> {c.get('observed')} "
                f"(expected {c.get('expected')}; {c.get('reason', '')})",
            )
        )
    return out


def _interval_ms(result: dict[str, Any]) -> float:
    return float((result.get("timings_configured") or {}).get("probe_interval_s") or 0.05) * 1000


def outage_changes(b: dict[str, Any], c: dict[str, Any], tolerance_ms: float) -> list[Change]:
    """Node path growth past the tolerance is a regression; other paths are reported as info."""
    out = []
    for path in sorted(set(b["probes"]) | set(c["probes"])):
        bp, cp = b["probes"].get(path), c["probes"].get(path)
        gate = path == VERDICT_PATH
        if bp is None or cp is None:
            side = "candidate" if cp is None else "baseline"
            effect: Effect = "regression" if gate and cp is None else "info"
            out.append(Change("outage", effect, f"{path} path not probed in the {side}"))
            continue
        longest = (float(bp["longest_outage_ms"]), float(cp["longest_outage_ms"]))
        failed = (bp["failed_while_down"] * _interval_ms(b), cp["failed_while_down"] * _interval_ms(c))
        counts = (
            f"{bp['failed_while_down']}/{bp.get('sent_while_down', '?')} -> "
            f"{cp['failed_while_down']}/{cp.get('sent_while_down', '?')} requests"
        )
        for label, (before, after), shown in (
            ("longest outage", longest, f"{longest[0]:.0f} ms -> {longest[1]:.0f} ms"),
            ("failed while down", failed, counts),
        ):
            change = _grown(f"{path} path {label}", before, after, shown, tolerance_ms, gate)
            if change is not None:
                out.append(change)
    return out


def _grown(
    what: str, before_ms: float, after_ms: float, shown: str, tolerance_ms: float, gate: bool
) -> Change | None:
    """A change only past the tolerance: probe timing jitters by an interval or two per run."""
    delta = after_ms - before_ms
    if abs(delta) <= tolerance_ms:
        return None
    grew = delta > 0
    effect: Effect = ("regression" if grew else "improvement") if gate else "info"
    verb = "grew" if grew else "shrank"
    return Change(
        "outage", effect, f"{what} {verb}: {shown} ({delta:+.0f} ms, tolerance {tolerance_ms:.0f} ms)"
    )


def check_changes(b: list[dict[str, Any]], c: list[dict[str, Any]]) -> list[Change]:
    """Checks by phase/id; a check that stopped failing is an improvement, not just a difference."""
    before = {f"{x['phase']}/{x['id']}": bool(x["passed"]) for x in b}
    after = {f"{x['phase']}/{x['id']}": bool(x["passed"]) for x in c}
    out = []
    for check in sorted(set(before) | set(after)):
        was, now = before.get(check), after.get(check)
        if was is True and now is False:
            out.append(Change("check", "regression", f"newly failing: {check}"))
        elif was is False and now is True:
            out.append(Change("check", "improvement", f"newly passing: {check}"))
        elif was is None and now is False:
            out.append(Change("check", "regression", f"new check failing: {check}"))
        elif was is not None and now is None:
            out.append(Change("check", "info", f"not run in the candidate: {check}"))
    return out


def version_changes(b: dict[str, Any], c: dict[str, Any]) -> list[Change]:
    """Expected in an upgrade, so information: the reader sees what moved next to what changed."""
    return [
        Change("version", "info", f"{k} {b.get(k, '-')} -> {c.get(k, '-')}")
        for k in sorted(set(b) | set(c))
        if b.get(k) != c.get(k)
    ]
