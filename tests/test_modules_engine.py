"""The Docker and /proc modules (lrmatrix.modules) on a real engine node with Debian's docker.io:
what they read while the daemon runs and once it is gone, the engine node's own variants
agreeing with the generic ones, and the checks' ``host`` carrying the harness's very objects."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from conftest import engine_ready, node_with_a_container
from lrmatrix.drivers.engine.node import EngineDockerd, EngineNode, EngineProcesses
from lrmatrix.errors import NodeError
from lrmatrix.modules.dockerd import Dockerd
from lrmatrix.modules.processes import Processes
from prereqs import needs

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[EngineNode, int]]:
    """A real engine node (daemon.json without live-restore: off) running one container, and
    that container's main pid; removed whatever the tests do."""
    with node_with_a_container("engine-liverestore", "lrm-modules-test") as (node, cid):
        yield node, int(node.dockerd.cli_ok("inspect", "--format", "{{.State.Pid}}", cid).strip())


def test_the_checks_host_carries_the_harness_modules(running):
    node, _pid = running
    host = node.testinfra_host()
    assert host.lrm_dockerd is node.dockerd and host.lrm_processes is node.processes
    assert type(node.dockerd) is EngineDockerd and type(node.processes) is EngineProcesses
    assert host.lrm_dockerd.api_ready()
    assert host.file(node.daemon_json_path).exists  # testinfra's own modules stay on it


def test_docker_cli_through_the_node(running):
    node, _pid = running
    assert node.dockerd.cli_ok("ps", "--format", "{{.Names}}").split() == ["lrm-modules-test"]
    failed = node.dockerd.cli("inspect", "lrm-no-such-container")
    assert failed.rc != 0 and "lrm-no-such-container" in failed.one_line()
    with pytest.raises(NodeError, match=r"^docker inspect lrm-no-such-container failed on the node: "):
        node.dockerd.cli_ok("inspect", "lrm-no-such-container")


def test_daemon_state_as_the_daemon_reports_it(running):
    node, _pid = running
    info = node.dockerd.info()
    assert info["Containers"] == 1 and info["LiveRestoreEnabled"] is False
    assert node.dockerd.effective_live_restore() is False
    versions = node.dockerd.versions()
    assert versions["docker"] == info["ServerVersion"] and set(versions) == {"docker", "containerd", "runc"}
    assert node.versions() == {**versions, "kernel": os.uname().release}
    rules = node.dockerd.nat_rules()
    assert rules is not None and "-N DOCKER" in rules


def test_process_identity_and_trees(running):
    node, pid = running
    main = node.processes.proc(pid)
    assert main is not None and main.cmdline == "sleep 3600"
    shim = node.processes.proc(main.ppid)
    assert shim is not None and "containerd-shim" in shim.cmdline
    assert node.processes.trees([pid, 999999999]) == {pid: [shim, main], 999999999: []}
    assert node.processes.procs([pid, 999999999]) == {pid: main, 999999999: None}


def test_the_engine_variants_agree_with_the_generic_modules_up_and_down(running):
    """The engine node finds its dockerd by network namespace and asks its socket by connect();
    the generic modules grep /proc/*/comm (every dockerd of the machine) and read
    /proc/net/unix inside the namespace. Both must say the same of this node, up and down."""
    node, _pid = running
    generic_dockerd, generic_procs = Dockerd(node), Processes(node)
    dockerd = node.daemon_pid()
    assert dockerd is not None
    assert node.processes.named("dockerd") == [dockerd] and dockerd in generic_procs.named("dockerd")
    names = ("dockerd", "containerd", "lrm-no-such-command")
    containerd = int((node.exec_root / "containerd" / "containerd.pid").read_text())
    assert node.processes.by_names(names) == {names[0]: [dockerd], names[1]: [containerd], names[2]: []}
    everywhere = generic_procs.by_names(names)
    assert dockerd in everywhere[names[0]] and containerd in everywhere[names[1]]
    assert everywhere[names[2]] == []
    assert node.dockerd.socket_listening() and generic_dockerd.socket_listening()
    # the engine node reads the API on its socket in-process; the generic module runs the CLI
    assert node.dockerd.api_ready() and generic_dockerd.api_ready()
    assert node.dockerd.versions() == generic_dockerd.versions()
    (api,), (cli,) = node.dockerd.inspect("lrm-modules-test"), generic_dockerd.inspect("lrm-modules-test")
    assert api == cli and api["State"]["Pid"] == _pid  # the CLI prints the API's JSON as it is
    with pytest.raises(NodeError, match=r"^GET /containers/lrm-no-such-container/json .* answered 404: "):
        node.dockerd.inspect("lrm-modules-test", "lrm-no-such-container")
    info, cli_info = node.dockerd.info(), generic_dockerd.info()
    assert (info["ID"], info["LiveRestoreEnabled"]) == (cli_info["ID"], cli_info["LiveRestoreEnabled"])
    assert node.daemon_up() == f"dockerd (pid {dockerd}) is running"
    node.stop_daemon("SIGTERM")
    try:
        assert node.processes.named("dockerd") == [] and dockerd not in generic_procs.named("dockerd")
        assert not node.dockerd.socket_listening() and not generic_dockerd.socket_listening()
        assert node.daemon_up() is None and node.processes.proc(dockerd) is None
        assert not node.dockerd.api_ready() and not generic_dockerd.api_ready()
        refused = rf"^GET /info on the Docker API of {re.escape(node.name)} failed: "
        with pytest.raises(NodeError, match=refused):
            node.dockerd.info()
        silent = f"^the Docker API on {re.escape(node.name)} did not answer within 1s$"
        with pytest.raises(NodeError, match=silent):
            node.dockerd.wait_api(1.0)
        with pytest.raises(NodeError, match=r"^dockerd exited while starting$"):
            node.dockerd.wait_api(30, alive=lambda: False)
    finally:
        node.start_daemon()
    assert node.dockerd.api_ready() and node.daemon_up() is not None
