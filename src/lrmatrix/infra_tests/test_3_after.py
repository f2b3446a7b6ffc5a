"""After: the daemon is back; the same containers run, the API works, the paths answer."""

from __future__ import annotations

import pytest

from lrmatrix.evidence.records import Recovered
from lrmatrix.infra_tests import observing

pytestmark = pytest.mark.phase("after")


def test_api_answers(host):
    assert host.run("docker version --format '{{.Server.Version}}'").rc == 0


def test_effective_live_restore_unchanged(node, cell):
    assert node.dockerd.effective_live_restore() is cell.live_restore


def test_node_path_answers_again(evidence, cell):
    recovered = evidence.require(Recovered)
    why = (
        f"the daemon left {', '.join(recovered.stopped)} stopped"
        if recovered.stopped
        else f"not within {cell.timings.recover_timeout_s}s of the restart"
    )
    assert recovered.answered["node"], f"the node path did not answer again: {why}"


def test_loopback_path_answers_again(evidence):
    answered = evidence.require(Recovered).answered
    if "loopback" not in answered:
        pytest.skip("this node's loopback is not reachable from the harness")
    assert answered["loopback"], "docker-proxy did not come back"


def kubelet_replaces_containers(cell):
    """Without live-restore on Kubernetes the kubelet starts new containers (new IDs and names);
    test_k8s_restart_counts_kept_or_changed judges that case instead."""
    if cell.kubernetes and not cell.live_restore:
        pytest.skip("the kubelet replaces exited containers; judged by the Kubernetes checks")


def test_same_containers_back(before, after, cell):
    kubelet_replaces_containers(cell)
    assert {c.name: c.id for c in after.containers} == {c.name: c.id for c in before.containers}
    assert all(c.running for c in after.containers)


def test_container_processes_kept_or_restarted(before, after, cell):
    kubelet_replaces_containers(cell)
    before_procs = {p.key for p in before.all_procs()}
    after_procs = {p.key for p in after.all_procs()}
    before, after = ({c.name: c for c in snap.containers} for snap in (before, after))
    if cell.live_restore:
        assert before_procs <= after_procs, "container processes were replaced"
        for name, c in after.items():
            assert c.started_at == before[name].started_at, f"{name} was restarted"
            assert c.restart_count == before[name].restart_count
    else:
        assert not before_procs & after_procs, "old processes survived without live-restore"
        for name, c in after.items():
            assert c.started_at != before[name].started_at, f"{name} was not started again"


def test_new_container_created_and_removed(host, workload, cell):
    observing(cell)  # the user's image may hold no `true`; the daemon is judged by the others
    image = workload.image
    if built_here(workload):
        res = host.run(f"docker run --rm --name lrm-after-check {image} true")
    else:  # a user's image may hold no `true` (distroless): created and removed, never started
        res = host.run(f"docker create --name lrm-after-check {image} true && docker rm lrm-after-check")
    assert res.rc == 0, res.stderr
    assert host.run("docker ps -aq --filter name=lrm-after-check").stdout.strip() == ""


def built_here(workload: object) -> bool:
    """An image from one of lrmatrix's recipes, known to hold `true` (a user's may not)."""
    spec = getattr(workload, "spec", None)
    return spec is None or bool(spec.image.recipe)
