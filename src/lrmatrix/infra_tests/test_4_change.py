"""Change: a configuration change rolls out on the restored daemon (exec + reload), as the
cell's workload defines it; a workload without a change step skips these, saying so."""

from __future__ import annotations

import pytest

from lrmatrix.evidence.probe import wait_until_ok
from lrmatrix.infra_tests import observing
from lrmatrix.plugin import KEY
from lrmatrix.run.actions.change import NO_CHANGE
from lrmatrix.workload.observed import OBSERVED
from lrmatrix.workload.seed import ACCESS_LOGS, UPDATED_ENDPOINTS
from lrmatrix.workload.spec import SEED
from lrmatrix.workload.targets import endpoint_targets

pytestmark = pytest.mark.phase("change")

#: how long an endpoint of the change may take to answer as changed (a reload takes well under 1 s)
CHANGE_WAIT_S = 10.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per endpoint the cell's change must bring (the seed's: /health, /status, /test)."""
    if "endpoint" not in metafunc.fixturenames:
        return
    runner = metafunc.config.stash.get(KEY, None)
    spec = runner.cell.workload if runner is not None else None
    endpoints = UPDATED_ENDPOINTS if spec is None else spec.change.endpoints if spec.change else ()
    if not endpoints:
        why = OBSERVED if spec is not None and spec.observe is not None else NO_CHANGE
        metafunc.parametrize("endpoint", [pytest.param(None, marks=pytest.mark.skip(reason=why))])
        return
    metafunc.parametrize("endpoint", endpoints, ids=lambda e: e.label())


def test_updated_response_on_node_path(workload, node, cell, endpoint):
    if cell.kubernetes:
        pytest.skip("Kubernetes cells roll the change out; see test_k8s_rollout_serves_updated_config")
    places = [(f"{node.address}:{port}", "") for port in workload.ports]
    targets = endpoint_targets((endpoint,), places, "")
    assert wait_until_ok(targets, CHANGE_WAIT_S, cell.timings.probe_timeout_s) is not None


def test_logs_readable_after_restart(host, workload, cell):
    """The workload's log is readable through the restarted daemon: `docker logs` for stdout
    (the seed's access log: a request line), `docker exec` for a cell that logs to a file."""
    observing(cell)  # the change phase skips: nothing of the user's containers is changed
    name = workload.names[0]
    if cell.access_log == "file":
        res = host.run(f"docker exec {name} cat {ACCESS_LOGS['file']}")
    else:
        res = host.run(f"docker logs --tail 5 {name}")
    assert res.rc == 0, res.stderr
    if workload.spec.name == SEED:
        assert "GET /" in res.stdout + res.stderr
    else:
        assert res.stdout + res.stderr, f"{name} logged nothing"
