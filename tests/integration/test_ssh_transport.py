"""One transport per ssh node: the harness and testinfra's ``host`` share the driver's one
connection; commands go through long-lived shells on it with the answers an exec channel of
their own gives; reading many files or a container's process tree is one command each, with
the same answers as reading one at a time."""

from __future__ import annotations

import threading

import pytest
import test_ssh_driver as ssh
from sshnode import driver
from test_ssh_driver import SYSV_ONLY

from lrmatrix.errors import NodeError
from prereqs import import_module

import_module("paramiko", 'pip install "lrmatrix[ssh]"')
from lrmatrix.drivers.ssh.transport import MAX_CHANNELS  # noqa: E402 (needs paramiko)

staging, clean = ssh.staging, ssh.clean
pytestmark = pytest.mark.integration


class Counted:
    """Counts the commands a transport runs (the real ones, passed through)."""

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
        connection = node.transport.client.get_transport()
        host = node.testinfra_host()
        assert host.check_output("hostname") == node.run(["hostname"]).stdout.strip()
        assert host.file("/etc/init.d/docker").exists
        # the checks' modules are the harness's, on the same connection
        assert host.lrm_processes is node.processes and host.lrm_dockerd is node.dockerd
        assert host.lrm_processes.named("dockerd") == [node.daemon_pid()]
        assert node.transport.client.get_transport() is connection
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


class Opened:
    """Counts the channels a transport opens on its connection (the real ones, passed through)."""

    def __init__(self, node) -> None:
        self.count = 0
        real = node.transport._open_channel

        def open_channel():
            self.count += 1
            return real()

        node.transport._open_channel = open_channel


# what an exec channel of its own gives (exit status, stdout, stderr), byte for byte
SAME_AS_EXEC = [
    ("echo out; echo err >&2; exit 3", b""),
    ("printf 'a\\0b\\377'; printf 'no newline' >&2", b""),
    ('cat; echo "$0 $SHELL" | grep -c bash', b"it's \xff\n'x' $HOME\n"),
    ("cat /proc/self/cmdline | tr '\\0' ' '; exec true", b""),
    ("cat", b""),
    ("command -v docker && command -v dockerd", b""),
    ('echo "$PATH $HOME $USER"; pwd; umask; id', b""),
]


@SYSV_ONLY
def test_commands_share_a_shell_and_answer_as_exec_channels_do(clean):
    node = driver(clean)
    try:
        node.run(["true"])
        opened = Opened(node)
        for command, stdin in SAME_AS_EXEC:
            assert node.transport.exec_raw(command, 30, stdin) == node.transport._exec(command, 30, stdin)
        assert opened.count == len(SAME_AS_EXEC), "the shell commands opened channels of their own"
    finally:
        node.close()


@SYSV_ONLY
def test_a_command_past_its_timeout_takes_its_shell_and_the_next_one_gets_a_new_one(clean):
    node = driver(clean)
    try:
        # 2 s: under CI's load 0.5 s passed before the shell had even echoed
        assert node.transport.exec_raw("echo started; sleep 10", 2) == (
            124,
            b"started\n",
            b"timed out after 2s",
        )
        opened = Opened(node)
        assert node.run(["echo", "next"]).stdout == "next\n"
        assert opened.count == 1
    finally:
        node.close()


@SYSV_ONLY
def test_a_shell_that_died_is_an_error_for_its_command_and_replaced_for_the_next(clean):
    node = driver(clean)
    try:
        with pytest.raises(NodeError, match="broke off"):
            node.transport.exec_raw("kill -9 $PPID; sleep 5", 10)  # the shell the command runs in
        assert node.run(["echo", "next"]).stdout == "next\n"
        node.close()  # the connection and its shells
        assert node.run(["echo", "again"]).stdout == "again\n"
    finally:
        node.close()


@SYSV_ONLY
def test_concurrent_commands_each_get_their_own_answer_on_at_most_max_channels_shells(clean):
    node = driver(clean)
    opened = Opened(node)
    answers: dict[tuple[int, int], str] = {}

    def work(worker: int) -> None:
        for i in range(15):
            res = node.run(["sh", "-c", f"echo {worker}-{i}; echo e{worker} >&2; sleep 0.0{i % 3}"])
            answers[worker, i] = res.stdout + res.stderr

    try:
        threads = [threading.Thread(target=work, args=(w,)) for w in range(MAX_CHANNELS + 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert answers == {(w, i): f"{w}-{i}\ne{w}\n" for w in range(MAX_CHANNELS + 3) for i in range(15)}
        assert 1 <= opened.count <= MAX_CHANNELS
    finally:
        node.close()
