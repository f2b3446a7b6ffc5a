"""Pre-upgrade comparison: pair the cells of two runs and say what changed, as data.

An upgrade is gated on this, so nothing is dropped: a cell on one side only is a pair
of its own, and each change carries its effect (regression, improvement or info) so the
exit code and every output format agree. Rendering lives in ``report/comparison.py``.

The gate: every candidate cell passes (``--allow-failing`` names the ones known not to);
every check the baseline ran, ran in the candidate too; and on the ``node`` path the
outage, the requests failed while down, the recovery after the restart and the probe's
coverage are no worse than the baseline's beyond the tolerance. ``--known-growth CELL=MS``
adds a known, read-about difference (26.1's daemon starts about 1 s slower) to one candidate
cell's down-time tolerance, so accepting it does not widen the gate for every other pair.

The tolerance is relative with an absolute floor, ``max(floor, pct % of the baseline)``:
a fixed 1000 ms let a 250 ms post-restart blip grow fourfold unnoticed while a 7.5 s outage
failed on 1.1 s of jitter. Both defaults come from the measured run-to-run spread of the open-
model probe (``MEASURED_SPREAD``, docs/performance-probe.md, ``bench/outage_spread.py``) by
one rule: the floor is the largest spread of the node path's longest outage and recovery over
the plain engine cells, rounded up to the next 50 ms; the relative part is the largest spread
of a whole outage (1 s or more: a blip's share of itself is the floor's business) as a share
of its smaller figure, rounded up to the next 5 %. The floor is never below two probe
intervals: each edge of a window is known to within one interval (each container is asked
every tick). The spread is the machine's, not the probe's: against an independent observer
the probe's edges stayed within 68 ms in the same runs, while the restart blip itself took
250-750 ms and the whole outage 7.3-8.0 s as other sessions loaded the 2-core machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import CELL_NAME
from lrmatrix.report.scenario_differences import pair_differences
from lrmatrix.results.model import Check as CheckResult
from lrmatrix.results.model import PathSummary, Result, SkippedCheck, Verdict
from lrmatrix.results.outcome import met, outcome, path_failures

Effect = Literal["regression", "improvement", "info"]
SCHEMA = "lrmatrix.report.compare/1"
VERDICT_PATH = "node"  # the verdict is decided on this access path
#: run-to-run spread measured with the open-model probe, per plain engine cell and figure:
#: (runs, smallest ms, largest ms), 2026-12-02 on the 2-core machine (docs/performance-probe.md)
MEASURED_SPREAD: dict[str, tuple[int, float, float]] = {
    "engine-noliverestore longest_outage_ms": (10, 7320.4, 8001.5),
    "engine-noliverestore recovery_ms": (10, 0.0, 252.0),
    "engine-liverestore longest_outage_ms": (10, 250.0, 750.6),
    "engine-liverestore recovery_ms": (10, 0.0, 0.0),
}
#: the smallest figure whose spread sets the relative part: a whole outage, not a blip
WHOLE_OUTAGE_MS = 1000.0


def tolerance_from_spread(spread: dict[str, tuple[int, float, float]]) -> tuple[float, float]:
    """The rule: (largest spread rounded up to 50 ms, largest relative spread of a whole
    outage rounded up to 5 %)."""
    floor = max(hi - lo for _, lo, hi in spread.values())
    pct = max((hi - lo) / lo * 100 for _, lo, hi in spread.values() if lo >= WHOLE_OUTAGE_MS)
    return math.ceil(floor / 50) * 50.0, math.ceil(pct / 5) * 5.0


DEFAULT_TOLERANCE_MS, DEFAULT_TOLERANCE_PCT = tolerance_from_spread(MEASURED_SPREAD)
DEFAULT_COVERAGE_DROP = 0.05  # probe coverage (0..1) may drop this much before it gates


@dataclass(frozen=True)
class Tolerance:
    """How much worse a measurement may get before it is a regression (see the module doc)."""

    floor_ms: float = DEFAULT_TOLERANCE_MS
    pct: float = DEFAULT_TOLERANCE_PCT
    coverage: float = DEFAULT_COVERAGE_DROP

    def allowed_ms(self, baseline_ms: float, interval_ms: float) -> float:
        return max(self.floor_ms, 2 * interval_ms, abs(baseline_ms) * self.pct / 100)

    def describe(self) -> str:
        return f"max({self.floor_ms:.0f} ms, {self.pct:g} % of the baseline)"


@dataclass(frozen=True)
class Change:
    kind: str  # verdict | outage | check | version | cell | scenario
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
    tolerance: Tolerance
    pair_map: dict[str, str] = field(default_factory=dict)
    allow_failing: tuple[str, ...] = ()
    known_growth: dict[str, float] = field(default_factory=dict)

    @property
    def regression(self) -> bool:
        return any(p.regression for p in self.pairs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tolerance": vars(self.tolerance),
            "pair": self.pair_map,
            "allow_failing": list(self.allow_failing),
            "known_growth_ms": self.known_growth,
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


def parse_known_growth(specs: list[str]) -> dict[str, float]:
    """``--known-growth engine26-noliverestore=1450``: candidate cell -> ms of accepted growth."""
    out: dict[str, float] = {}
    for spec in specs:
        cell, sep, value = spec.partition("=")
        try:
            ms = float(value)
        except ValueError:
            ms = math.nan
        if not sep or not CELL_NAME.match(cell) or not (math.isfinite(ms) and ms >= 0):
            raise BadInput(
                f"--known-growth {spec!r}: use CANDIDATE_CELL=MILLISECONDS (a finite number >= 0), "
                "e.g. engine26-noliverestore=1450"
            )
        if cell in out:
            raise BadInput(f"--known-growth: cell {cell!r} is given twice")
        out[cell] = ms
    return out


def cell_key(result: Result) -> tuple[str, str, tuple[str, ...]]:
    """(platform, variant, extras) of a result; older results lack platform/variant keys."""
    cell = result.cell
    match = CELL_NAME.match(cell)
    if not match:
        raise BadInput(f"result for {cell!r}: not a cell name ({CELL_NAME.pattern})")
    platform = result.platform or match.group(1)
    variant = result.variant or match.group(2)
    return platform, variant, tuple(cell.split("-")[2:])


def _index(
    results: list[Result], side: str, pair_map: dict[str, str]
) -> dict[tuple[str, str, tuple[str, ...]], Result]:
    out: dict[tuple[str, str, tuple[str, ...]], Result] = {}
    for r in results:
        platform, variant, extras = cell_key(r)
        key = (pair_map.get(platform, platform), variant, extras)
        if key in out:
            target = "-".join((key[0], key[1], *key[2]))
            raise BadInput(
                f"{side}: {out[key].cell} and {r.cell} both pair with {target}; "
                "narrow the input or the --pair mapping"
            )
        out[key] = r
    return out


def compare(
    baseline: list[Result],
    candidate: list[Result],
    tolerance: Tolerance | None = None,
    pair_map: dict[str, str] | None = None,
    allow_failing: tuple[str, ...] = (),
    known_growth: dict[str, float] | None = None,
) -> Comparison:
    """Pair by (platform, variant, extras), baseline platforms renamed through ``pair_map``."""
    pair_map = pair_map or {}
    known_growth = known_growth or {}
    tolerance = tolerance or Tolerance()
    if not baseline or not candidate:
        raise BadInput(f"no result files in the {'baseline' if not baseline else 'candidate'}")
    for option, value, high in (
        ("--tolerance-ms", tolerance.floor_ms, math.inf),
        ("--tolerance-pct", tolerance.pct, math.inf),
        ("--coverage-drop", tolerance.coverage, 1.0),
    ):
        if not (math.isfinite(value) and 0 <= value <= high):
            bound = "" if high == math.inf else f" and <= {high:g}"
            raise BadInput(f"{option} must be a finite number >= 0{bound}, got {value}")
    for option, named in (("--allow-failing", set(allow_failing)), ("--known-growth", set(known_growth))):
        unknown_cells = sorted(named - {r.cell for r in candidate})
        if unknown_cells:
            raise BadInput(
                f"{option} {unknown_cells[0]}: the candidate has no result for that cell; "
                "name a candidate cell"
            )
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
                baseline=b.cell if b else None,
                candidate=c.cell if c else None,
                changes=tuple(_changes(b, c, tolerance, allow_failing, known_growth)),
            )
        )
    return Comparison(
        pairs=tuple(pairs),
        tolerance=tolerance,
        pair_map=pair_map,
        allow_failing=tuple(allow_failing),
        known_growth=dict(known_growth),
    )


def _changes(
    b: Result | None,
    c: Result | None,
    tolerance: Tolerance,
    allow_failing: tuple[str, ...],
    known_growth: dict[str, float],
) -> list[Change]:
    if c is None:
        return [Change("cell", "regression", "not run in the candidate: its behaviour is unknown")]
    changes = [*_not_passed(c)]
    if b is None:
        v = c.verdict
        changes.append(
            Change("cell", "info", f"new in the candidate: observed {v.observed}, expected {v.expected}")
        )
    else:
        changes += [
            *verdict_changes(b.verdict, c.verdict),
            *outage_changes(b, c, tolerance, known_growth.get(c.cell, 0.0)),
            *check_changes(b, c),
            # what the daemon did differently on the other engine: each cell gates on its own values
            *(Change("scenario", "info", what) for what in pair_differences(b, c)),
            *version_changes(b.versions, c.versions),
            *runtime_kept(b.versions, c.versions),
        ]
    if c.cell in allow_failing:  # listed as before, but known and accepted: it does not gate
        changes = [
            Change(x.kind, "info", f"{x.what} (allowed: --allow-failing)") if x.effect == "regression" else x
            for x in changes
        ]
    return changes


def _not_passed(c: Result) -> list[Change]:
    """A candidate cell that did not pass gates, also when its baseline failed the same way: an
    upgrade is not proven safe by a cell that does not do what the matrix says it must."""
    decided = outcome(c)
    if decided.passed:
        return []
    v = c.verdict
    why = f"observed {v.observed}, expected {v.expected}"
    if v.reason:
        why += f" ({v.reason})"
    paths = path_failures(c.path_verdicts)
    if paths:
        why += f"; path verdicts: {'; '.join(paths)}"
    failed = decided.failed_checks
    if failed:
        why += f"; failing checks: {', '.join(failed[:3])}" + (" ..." if len(failed) > 3 else "")
    if c.error:
        why += f"; stopped: {c.error}"
    return [Change("cell", "regression", f"the candidate did not pass: {why}")]


def verdict_changes(b: Verdict, c: Verdict) -> list[Change]:
    """A flip is a regression unless the candidate now meets its expectation."""
    out = []
    if b.expected != c.expected:
        out.append(Change("verdict", "info", f"expected {b.expected} -> {c.expected}"))
    if b.observed != c.observed:
        effect: Effect = "improvement" if met(c) and not met(b) else "regression"
        if met(c) and met(b):
            effect = "info"
        out.append(
            Change(
                "verdict",
                effect,
                f"verdict changed: observed {b.observed} -> {c.observed} (expected {c.expected}; {c.reason})",
            )
        )
    return out


def _interval_ms(result: Result) -> float:
    return result.timings_configured.probe_interval_s * 1000


def outage_changes(b: Result, c: Result, tolerance: Tolerance, known_ms: float = 0.0) -> list[Change]:
    """Node path growth past the tolerance is a regression; other paths are reported as info.
    ``known_ms`` (``--known-growth``) widens the two down-time figures of every path, not the
    recovery after the API answered: a slower daemon start lengthens the outage, not that."""
    out = []
    for path in sorted(set(b.probes) | set(c.probes)):
        bp, cp = b.probes.get(path), c.probes.get(path)
        gate = path == VERDICT_PATH
        if bp is None or cp is None:
            side = "candidate" if cp is None else "baseline"
            effect: Effect = "regression" if gate and cp is None else "info"
            out.append(Change("outage", effect, f"{path} path not probed in the {side}"))
            continue
        longest = (bp.longest_outage_ms, cp.longest_outage_ms)
        failed = (_failed_down_ms(b, bp), _failed_down_ms(c, cp))
        counts = (
            f"{bp.failed_while_down}/{bp.sent_while_down} -> "
            f"{cp.failed_while_down}/{cp.sent_while_down} requests, "
            f"{failed[0]:.0f} ms -> {failed[1]:.0f} ms failing"
        )
        measured = [
            ("longest outage", longest, f"{longest[0]:.0f} ms -> {longest[1]:.0f} ms", known_ms),
            ("failed while down", failed, counts, known_ms),
        ]
        recovery = _recovery_ms(bp), _recovery_ms(cp)
        if recovery[0] is not None and recovery[1] is not None:
            shown = f"{recovery[0]:.0f} ms -> {recovery[1]:.0f} ms after the API answered"
            measured.append(("recovery", (recovery[0], recovery[1]), shown, 0.0))
        elif recovery[0] is not None and "recovery_s" in cp.model_fields_set and cp.recovery_s is None:
            out.append(
                Change(
                    "recovery",
                    "regression" if gate else "info",
                    f"{path} path never answered again after the restart (baseline: {recovery[0]:.0f} ms)",
                )
            )
        interval = _interval_ms(b)
        for label, (before, after), shown, known in measured:
            change = _grown(f"{path} path {label}", before, after, shown, tolerance, interval, gate, known)
            if change is not None:
                out.append(change)
        out += _coverage_change(path, bp, cp, tolerance, gate)
    return out


def _failed_down_ms(result: Result, p: PathSummary) -> float:
    """How long the path failed while down: its failed share of the down interval (the
    open-model probe sends a request per container per tick, so requests are not time), or in
    results written before that share, failed requests times the interval (one per tick)."""
    d = result.disruption
    if p.down_failed_share is not None and d.stop_at is not None and d.start_at is not None:
        return p.down_failed_share * (d.start_at - d.stop_at) * 1000
    return p.failed_while_down * _interval_ms(result)


def _recovery_ms(p: PathSummary) -> float | None:
    return None if p.recovery_s is None else p.recovery_s * 1000


def coverage_of(p: PathSummary) -> float | None:
    """The worst of ``probes.<path>.coverage``: overall or of one container (``targets``), as a
    share 0..1, so a container the probe stopped watching is not averaged away. Results
    written before coverage existed have none and are compared without it."""
    if p.coverage is None:
        return None
    return min([p.coverage.ratio, *(t.ratio for t in p.coverage.targets.values())])


def _coverage_change(
    path: str, bp: PathSummary, cp: PathSummary, tolerance: Tolerance, gate: bool
) -> list[Change]:
    before, after = coverage_of(bp), coverage_of(cp)
    if before is None or after is None or abs(after - before) <= tolerance.coverage:
        return []
    worse = after < before
    effect: Effect = ("regression" if worse else "improvement") if gate else "info"
    return [
        Change(
            "coverage",
            effect,
            f"{path} path probe coverage {'fell' if worse else 'rose'}: {before:.0%} -> {after:.0%} "
            f"(tolerance {tolerance.coverage:.0%})",
        )
    ]


def _grown(
    what: str,
    before_ms: float,
    after_ms: float,
    shown: str,
    tolerance: Tolerance,
    interval_ms: float,
    gate: bool,
    known_ms: float = 0.0,
) -> Change | None:
    """A change only past the tolerance: probe timing jitters by an interval or two per run,
    and a long outage by a share of itself. A known growth widens it for growth only: a
    shrink is measured against the plain tolerance."""
    delta = after_ms - before_ms
    allowed = tolerance.allowed_ms(before_ms, interval_ms) + (known_ms if delta > 0 else 0.0)
    if abs(delta) <= allowed:
        return None
    grew = delta > 0
    effect: Effect = ("regression" if grew else "improvement") if gate else "info"
    verb = "grew" if grew else "shrank"
    incl = f" incl. {known_ms:.0f} ms known growth" if grew and known_ms else ""
    return Change(
        "outage", effect, f"{what} {verb}: {shown} ({delta:+.0f} ms, tolerance {allowed:.0f} ms{incl})"
    )


def check_changes(b: Result, c: Result) -> list[Change]:
    """Checks by phase/id; a check that stopped failing is an improvement, not just a difference.
    A check the baseline ran that the candidate skipped or never ran is a regression: what it
    proved is unproven for the candidate."""
    before = {_check(x): x.passed for x in b.checks}
    after = {_check(x): x.passed for x in c.checks}
    skipped = {_check(x): x.detail for x in c.skipped_checks or []}
    out = []
    for check in sorted(set(before) | set(after)):
        was, now = before.get(check), after.get(check)
        if was is True and now is False:
            out.append(Change("check", "regression", f"newly failing: {check}"))
        elif was is False and now is True:
            out.append(Change("check", "improvement", f"newly passing: {check}"))
        elif was is None and now is False:
            out.append(Change("check", "regression", f"new check failing: {check}"))
        elif was is not None and now is None and check in skipped:
            why = f" ({skipped[check]})" if skipped[check] else ""
            out.append(Change("check", "regression", f"skipped in the candidate: {check}{why}"))
        elif was is not None and now is None:
            out.append(Change("check", "regression", f"not run in the candidate: {check}"))
    return out


def _check(x: CheckResult | SkippedCheck) -> str:
    return x.label


def version_changes(b: dict[str, str], c: dict[str, str]) -> list[Change]:
    """Expected in an upgrade, so information: the reader sees what moved next to what changed."""
    return [
        Change("version", "info", f"{k} {b.get(k, '-')} -> {c.get(k, '-')}")
        for k in sorted(set(b) | set(c))
        if b.get(k) != c.get(k)
    ]


#: what a Kubernetes node runs under the kubelet, read on the node (kicbase pins neither Docker
#: nor, across minikube releases, cri-dockerd): shown for every pair that ran on one
RUNTIME_KEYS = ("docker", "cri-dockerd")


def runtime_kept(b: dict[str, str], c: dict[str, str]) -> list[Change]:
    """Where both sides read the same runtime, say so: an unchanged Docker and cri-dockerd is
    what makes a Kubernetes pair compare the Kubernetes versions alone (a change is listed by
    ``version_changes``)."""
    if "cri-dockerd" not in b and "cri-dockerd" not in c:
        return []
    if any(b.get(k) != c.get(k) for k in RUNTIME_KEYS):
        return []
    read = ", ".join(f"{k} {b[k]}" for k in RUNTIME_KEYS)
    return [Change("version", "info", f"same runtime read on both nodes: {read}")]
