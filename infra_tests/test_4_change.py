"""Change: a configuration change rolls out on the restored daemon (exec + reload)."""

from __future__ import annotations

import pytest

from lrmatrix.probe import Target, wait_until_ok
from lrmatrix.workload import UPDATED_ENDPOINTS

pytestmark = pytest.mark.phase("change")


@pytest.mark.parametrize("endpoint", UPDATED_ENDPOINTS, ids=lambda e: e.path)
def test_updated_response_on_node_path(lrm_scenario, node, cell, endpoint):
    targets = [
        Target(f"http://{node.address}:{port}{endpoint.path}", endpoint.expect)
        for port in lrm_scenario.workload.ports
    ]
    assert wait_until_ok(targets, 10, cell.timings.probe_timeout_s) is not None


def test_logs_readable_after_restart(host):
    res = host.run("docker logs --tail 5 lrm-web-1")
    assert res.rc == 0, res.stderr
    assert "GET /" in res.stdout + res.stderr
