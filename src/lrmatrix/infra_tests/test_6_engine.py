"""The engine that answers after the restart, and the daemon's everyday commands on it.

Upgrade cells start another engine's dockerd on the same data-root after the window; these
checks hold for every cell, so an upgrade cell is judged exactly like its plain cell plus
'the new version is what answers'."""

from __future__ import annotations

import pytest

from lrmatrix.evidence.records import Started
from lrmatrix.infra_tests import observing
from lrmatrix.matrix.engines import upstream


@pytest.mark.phase("after")
def test_the_cells_engine_answers(evidence, node, cell):
    """After an engine switch (engine node) or a package upgrade (ssh node), the engine the
    cell names answers, not the one before."""
    binaries = getattr(node, "binaries", None)
    if cell.upgrade_command:
        expected = cell.next_engine.version
    elif binaries is None:
        pytest.skip("only the engine driver chooses which dockerd runs")
    else:
        expected = binaries.docker_version()
        assert binaries.engine == cell.next_engine
    after = evidence.require(Started).versions_after
    assert upstream(after.get("docker", "")) == expected, (
        f"engine {cell.next_engine.name}: expected dockerd {expected}, the node answers as "
        f"{after.get('docker')}"
    )


@pytest.mark.phase("after")
def test_docker_cli_works(host):
    """The CLI talks to the daemon (after an upgrade: the node's CLI, which Debian 13 ships as
    a package of its own, with the new daemon)."""
    res = host.run("docker version --format '{{.Client.Version}} {{.Server.Version}}'")
    assert res.rc == 0, res.stderr.strip()[-300:]
    assert len(res.stdout.split()) == 2, f"unexpected `docker version` output: {res.stdout!r}"


@pytest.mark.phase("after")
def test_exec_works(host, workload, cell):
    observing(cell)
    res = host.run(f"docker exec {workload.names[0]} true")
    assert res.rc == 0, res.stderr


@pytest.mark.phase("teardown")
def test_stop_works(host, workload, cell):
    """Last, once the probe has stopped: a container the restarted daemon adopted stops."""
    if cell.kubernetes:
        pytest.skip("the kubelet owns a pod's containers; it would start it again")
    observing(cell)
    name = workload.names[-1]
    res = host.run(f"docker stop -t 5 {name}")
    assert res.rc == 0, res.stderr
    assert host.run(f"docker inspect -f '{{{{.State.Running}}}}' {name}").stdout.strip() == "false"
