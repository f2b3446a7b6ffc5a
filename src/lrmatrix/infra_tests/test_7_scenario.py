"""A scenario cell's checks: each observation must equal the value measured for this engine
and variant (``[scenarios.<name>].expect``), so a daemon left in another state fails the cell.

One test per check of the cell's scenario, in the check's phase; the observation goes into the
result (``scenario.observations``) whether it matched or not. Cells without a scenario do not
collect this module (``conftest.py``).
"""

from __future__ import annotations

import pytest

from lrmatrix.run.fixtures import KEY
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.observation import mismatch, observe


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario_check" not in metafunc.fixturenames:
        return
    runner = metafunc.config.stash.get(KEY, None)
    scenario = runner.cell.scenario if runner is not None else None
    specs = registry.checks()
    params = [
        pytest.param(name, id=name, marks=pytest.mark.phase(specs[name].phase))
        for name in (scenario.checks if scenario is not None else ())
    ]
    metafunc.parametrize("scenario_check", params)


def test_scenario(scenario_check, lrm_runner):
    cell = lrm_runner.cell
    seen = observe(scenario_check, lrm_runner.ctx, cell.scenario.expect.get(scenario_check))
    lrm_runner.keep(seen)
    why = mismatch(seen, seen.expected, f"{cell.platform}/{cell.variant}", cell.scenario.name)
    assert why is None, why
