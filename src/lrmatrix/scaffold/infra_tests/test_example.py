"""Your own checks: testinfra tests run on the node of every cell, with the built-in ones.

``host`` runs commands on the node (the engine node's namespace, an ssh node, minikube's
node); ``cell``, ``node``, ``workload``, ``evidence`` and ``verdicts`` are the run's. A check
belongs to a phase of the scenario (``@pytest.mark.phase(NAME)``); one without a marker runs
in the ``after`` phase (the daemon is back) and the run says so in one line. Each outcome is
in results/<cell>.json (with this file's name), the report and ``lrmatrix compare``; a failing
check fails the cell. Replace these examples with what your upgrade must not break.
"""

import pytest


@pytest.mark.phase("baseline")
def test_the_daemon_runs_my_containers(host):
    """Before the disruption: the node's daemon answers and runs containers."""
    assert host.run("docker ps -q").stdout.split(), "no container runs on the node"


@pytest.mark.phase("disrupt")
def test_the_daemon_is_stopped(node, held_down):
    """Just after the stop (``held_down``: skipped in cells whose node restarts the daemon itself)."""
    assert node.daemon_pid() is None


@pytest.mark.phase("outage")
def test_the_api_socket_is_closed(host, node, held_down):
    """While it is down (no `docker` command here: on a systemd node it would start the daemon)."""
    assert not host.socket(f"unix://{node.socket_path}").is_listening


@pytest.mark.phase("recover")
def test_the_daemon_is_back(node):
    assert node.daemon_pid() is not None


@pytest.mark.phase("after")
def test_my_containers_answer_to_docker(host, workload):
    for name in workload.names:
        out = host.check_output(f"docker inspect --format '{{{{.State.Running}}}}' {name}")
        assert out.strip() == "true", f"{name} is not running"


@pytest.mark.phase("change")
def test_the_daemon_still_answers(host):
    assert host.run("docker version --format '{{.Server.Version}}'").rc == 0


@pytest.mark.phase("teardown")
def test_the_verdict_is_the_expected_one(verdicts, cell):
    assert verdicts.verdict.expected == cell.expect
