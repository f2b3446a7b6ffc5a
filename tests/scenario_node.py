"""A real engine node for the scenario checks' tests: made once per test module, the cached
nginx image loaded, and a ``Context`` that a check is handed, with the records it reads. A
check's wrong state is set up on this node in seconds, without a whole cell around it.
(Test code: it lives under tests/.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import node_with_a_container
from lrmatrix.evidence.records import Record
from lrmatrix.evidence.store import Evidence
from lrmatrix.run.clock import RunClock
from lrmatrix.run.context import Context


@pytest.fixture(scope="module")
def scenario_node(request: pytest.FixtureRequest) -> Iterator[tuple[object, str]]:
    """(node, image tag) of the cell named by the module's ``SCENARIO_CELL`` (default
    engine-liverestore): live-restore as that cell's daemon.json has it before the cell
    changes it (off), the image loaded (and one idle container); removed whatever the tests do."""
    from lrmatrix.workload import image

    cell = getattr(request.module, "SCENARIO_CELL", "engine-liverestore")
    with node_with_a_container(cell, "lrm-scenario-idle") as (node, _):
        yield node, image.image_tag()


def context(node: object, *records: Record) -> Context:
    """What a check is handed in a run: the node's cell, the node, and these records."""
    evidence = Evidence()
    evidence.add(*records)
    return Context(node.cell, node, RunClock(), evidence)  # type: ignore[attr-defined]
