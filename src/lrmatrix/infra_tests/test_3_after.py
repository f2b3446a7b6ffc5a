"""After: the daemon is back; the same containers run, the API works, the paths answer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.phase("after")


def test_api_answers(host):
    assert host.run("docker version --format '{{.Server.Version}}'").rc == 0


def test_effective_live_restore_unchanged(node, cell):
    assert node.dockerd.effective_live_restore() is cell.live_restore


def test_node_path_answers_again(lrm_scenario, cell):
    assert lrm_scenario.answered_after_start["node"], (
        f"the node path did not answer within {cell.timings.recover_timeout_s}s of the restart"
    )


def test_loopback_path_answers_again(lrm_scenario):
    if "loopback" not in lrm_scenario.answered_after_start:
        pytest.skip("this node's loopback is not reachable from the harness")
    assert lrm_scenario.answered_after_start["loopback"], "docker-proxy did not come back"


def kubelet_replaces_containers(cell):
    """Without live-restore on Kubernetes the kubelet starts new containers (new IDs and names);
    test_k8s_restart_counts_kept_or_changed judges that case instead."""
    if cell.kubernetes and not cell.live_restore:
        pytest.skip("the kubelet replaces exited containers; judged by the Kubernetes checks")


def test_same_containers_back(lrm_scenario, cell):
    kubelet_replaces_containers(cell)
    before = {c.name: c.id for c in lrm_scenario.before.containers}
    after = {c.name: c.id for c in lrm_scenario.after.containers}
    assert after == before
    assert all(c.running for c in lrm_scenario.after.containers)


def test_container_processes_kept_or_restarted(lrm_scenario, cell):
    kubelet_replaces_containers(cell)
    before = {c.name: c for c in lrm_scenario.before.containers}
    after = {c.name: c for c in lrm_scenario.after.containers}
    before_procs = {p.key for p in lrm_scenario.before.all_procs()}
    after_procs = {p.key for p in lrm_scenario.after.all_procs()}
    if cell.live_restore:
        assert before_procs <= after_procs, "container processes were replaced"
        for name, c in after.items():
            assert c.started_at == before[name].started_at, f"{name} was restarted"
            assert c.restart_count == before[name].restart_count
    else:
        assert not before_procs & after_procs, "old processes survived without live-restore"
        for name, c in after.items():
            assert c.started_at != before[name].started_at, f"{name} was not started again"


def test_new_container_created_and_removed(host, lrm_scenario):
    image = lrm_scenario.workload.image
    res = host.run(f"docker run --rm --name lrm-after-check {image} true")
    assert res.rc == 0, res.stderr
    assert host.run("docker ps -aq --filter name=lrm-after-check").stdout.strip() == ""
