"""One transport per ssh node: the harness and testinfra's ``host`` share the driver's one
connection, and reading many files or a container's process tree is one exec channel each,
with the same answers as reading one at a time."""

from __future__ import annotations

import pytest
import test_ssh_driver as ssh
from sshnode import driver
from test_ssh_driver import SYSV_ONLY

pytest.importorskip("paramiko")

staging, clean = ssh.staging, ssh.clean
pytestmark = pytest.mark.integration


class Counted:
    """Counts the exec channels a transport opens (the real ones, passed through)."""

    def __init__(self, node) -> None:
        self.calls: list[str] = []
        real = node.transport.exec_raw

        def exec_raw(command, timeout, stdin=b""):
            self.calls.append(command)
            return real(command, timeout, stdin)

        node.transport.exec_raw = exec_raw


@SYSV_ONLY
def test_harness_and_checks_share_one_connection(clean):
    node = driver(clean)
    try:
        assert node.testinfra_backend() is node.transport
        connection = node.client.get_transport()
        host = node.testinfra_host()
        assert host.check_output("hostname") == node.run(["hostname"]).stdout.strip()
        assert host.file("/etc/init.d/docker").exists
        # the checks' modules are the harness's, on the same connection
        assert host.lrm_processes is node.processes and host.lrm_dockerd is node.dockerd
        assert host.lrm_processes.named("dockerd") == [node.daemon_pid()]
        assert node.client.get_transport() is connection
    finally:
        node.close()


@SYSV_ONLY
def test_many_files_and_process_trees_in_few_round_trips(clean):
    node = driver(clean)
    try:
        pid = node.daemon_pid()
        assert pid is not None
        # files that do not change between two reads (a stat line's CPU times do)
        paths = [f"/proc/{pid}/comm", f"/proc/{pid}/cmdline", "/nowhere/at/all", "/etc/hostname"]
        one_by_one = {p: node.read_file(p) for p in paths}
        counted = Counted(node)
        assert node.read_files(paths) == one_by_one
        assert len(counted.calls) == 1

        counted.calls.clear()
        tree = node.processes.trees([pid])[pid]
        assert len(counted.calls) == 3
        parent, main, *children = tree
        assert main == node.processes.proc(pid) and parent == node.processes.proc(main.ppid)
        assert [c.ppid for c in children] == [pid] * len(children)
        assert node.processes.trees([999999999]) == {999999999: []}
    finally:
        node.close()
