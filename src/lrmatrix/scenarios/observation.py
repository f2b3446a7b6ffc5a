"""What a scenario check saw: the record the generic check asserts and the result keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lrmatrix.evidence.records import Record
from lrmatrix.results.outcome import observation_failure
from lrmatrix.scenarios import registry

if TYPE_CHECKING:
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class Seen:
    """A check's answer: ``value`` is the short word compared with the expectation ("resumed",
    "exited 3", "removed"); ``detail`` what on the node made it so, for a reader."""

    value: str
    detail: str = ""


@dataclass(frozen=True)
class Observation(Record):
    """One scenario check's observation in a run (``lrmatrix.infra_tests.test_7_scenario``)."""

    check: str
    phase: str
    observed: str
    detail: str = ""
    #: the value it is judged against: the measured one, or the part of it this node can show
    expected: str | None = None


def observe(name: str, ctx: Context, measured: str | None = None) -> Observation:
    """Run check ``name`` on the run's node: its observation beside the ``measured`` value it
    must show here, as the result keeps it."""
    spec, seen = registry.look(name, ctx)
    expected = spec.narrow(measured, ctx) if measured is not None and spec.narrow else measured
    return Observation(name, spec.phase, seen.value, seen.detail, expected)


def mismatch(observation: Observation, expected: str | None, where: str, scenario: str) -> str | None:
    """Why an observation fails its cell, in one line (``outcome`` decides); ``None`` when it
    is the measured value. ``where``: the cell's "<platform>/<variant>"."""
    o = observation
    return observation_failure(o.check, expected, o.observed, o.detail, where, scenario)
