"""Change: a configuration change rolls out on the restored daemon (exec + reload)."""

from __future__ import annotations

import pytest

from lrmatrix.evidence.probe import Target, wait_until_ok
from lrmatrix.workload.containers import ACCESS_LOGS, UPDATED_ENDPOINTS

pytestmark = pytest.mark.phase("change")


@pytest.mark.parametrize("endpoint", UPDATED_ENDPOINTS, ids=lambda e: e.path)
def test_updated_response_on_node_path(workload, node, cell, endpoint):
    if cell.kubernetes:
        pytest.skip("Kubernetes cells roll the change out; see test_k8s_rollout_serves_updated_config")
    targets = [
        Target(f"http://{node.address}:{port}{endpoint.path}", endpoint.expect) for port in workload.ports
    ]
    assert wait_until_ok(targets, 10, cell.timings.probe_timeout_s) is not None


def test_logs_readable_after_restart(host, workload, cell):
    """The access log is readable through the restarted daemon: `docker logs` for the seed's
    stdout log, `docker exec` for a cell that logs to a file in the container."""
    name = workload.names[0]
    if cell.access_log == "file":
        res = host.run(f"docker exec {name} cat {ACCESS_LOGS['file']}")
    else:
        res = host.run(f"docker logs --tail 5 {name}")
    assert res.rc == 0, res.stderr
    assert "GET /" in res.stdout + res.stderr
