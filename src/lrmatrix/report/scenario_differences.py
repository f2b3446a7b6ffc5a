"""Where scenario cells on different engines (or two runs of one cell) observed different
values: the knowledge a team reads before an upgrade ("healthcheck: health-log: stalled on
engine (docker 20.10.24), resumed on engine26 (docker 26.1.5)"). A statement of fact, never
a gate: each cell already fails when it does not observe its own measured value."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from lrmatrix.matrix.engines import upstream
from lrmatrix.results.model import Result


def where(result: Result) -> str:
    """A result's engine in words: its platform and the dockerd it ran."""
    docker = result.versions.get("docker")
    platform = result.platform or result.cell.split("-")[0]
    return f"{platform} (docker {upstream(docker)})" if docker else platform


def observed(result: Result) -> dict[str, str]:
    """check -> what it observed (nothing for a cell without a scenario)."""
    if result.scenario is None:
        return {}
    return {o.check: o.observed for o in result.scenario.observations}


def pair_differences(baseline: Result, candidate: Result) -> list[str]:
    """Each check of one scenario that observed another value in the candidate."""
    if baseline.scenario is None or candidate.scenario is None:
        return []
    name, before, after = candidate.scenario.name, observed(baseline), observed(candidate)
    return [
        f"{name}: {check}: {before[check]} on {where(baseline)}, {after[check]} on {where(candidate)}"
        for check in sorted(set(before) & set(after))
        if before[check] != after[check]
    ]


#: the heading the reports give ``engine_differences``
HEADING = "Where the engines differ"


def engine_differences(results: Iterable[Result]) -> list[str]:
    """Per scenario and variant, each check whose value differs between the engines that ran it."""
    seen: dict[tuple[str, str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.scenario is None:
            continue
        for check, value in observed(r).items():
            seen[(r.scenario.name, r.variant or "", check)][value].append(where(r))
    return [
        f"{name} ({variant}): {check}: "
        + "; ".join(f"{value} on {', '.join(sorted(places))}" for value, places in sorted(values.items()))
        for (name, variant, check), values in sorted(seen.items())
        if len(values) > 1
    ]
