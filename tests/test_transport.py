"""One transport per node: the engine node's namespace transport serves the harness (argv,
timeout, text) and testinfra's ``host`` (its modules sit on top) through the same method.
Entered here into this process's own network namespace, so it needs no node."""

from __future__ import annotations

import os

import pytest
import testinfra.host

from lrmatrix.command import CmdResult
from lrmatrix.drivers.engine import NetnsTransport
from lrmatrix.errors import NodeError
from lrmatrix.transport import read_files

OWN_NETNS = "/proc/self/ns/net"


def transport() -> NetnsTransport:
    return NetnsTransport(OWN_NETNS, "unix:///nowhere/docker.sock")


def test_the_harness_runs_an_argv_with_the_node_docker_host() -> None:
    res = transport().exec(["sh", "-c", 'echo "$DOCKER_HOST"; echo oops >&2; exit 3'])
    assert (res.rc, res.stdout, res.stderr) == (3, "unix:///nowhere/docker.sock\n", "oops\n")
    assert res.argv[0] == "sh"


def test_a_command_past_its_timeout_is_cut_with_124() -> None:
    res = transport().exec(["sleep", "5"], timeout=0.3)
    assert res.rc == 124 and "timed out" in res.stderr


def test_the_checks_host_runs_through_the_same_transport() -> None:
    host = testinfra.host.Host(transport())
    res = host.run('echo "$DOCKER_HOST" && exit 4')
    assert (res.rc, res.stdout) == (4, "unix:///nowhere/docker.sock\n")
    assert host.file("/proc/self/ns/net").exists  # a testinfra module on top of ``run``
    assert not host.file("/nowhere/at/all").exists


def test_many_files_in_one_command_absent_ones_as_none(tmp_path) -> None:
    (tmp_path / "bin").write_bytes(b"a\0b c\n\n")
    (tmp_path / "empty").write_bytes(b"")
    paths = [
        str(tmp_path / "bin"),
        str(tmp_path / "missing"),
        str(tmp_path / "empty"),
        f"/proc/{os.getpid()}/stat",
    ]
    calls: list[list[str]] = []

    def run(argv: list[str]) -> CmdResult:
        calls.append(argv)
        return transport().exec(argv)

    found = read_files(run, paths)
    assert len(calls) == 1
    assert found[paths[0]] == b"a\0b c\n\n" and found[paths[1]] is None and found[paths[2]] == b""
    assert found[paths[3]].startswith(f"{os.getpid()} (".encode())


def test_a_failed_batch_is_an_error_not_absent_files() -> None:
    with pytest.raises(NodeError, match="cannot read 1 files"):
        read_files(lambda argv: transport().exec(["false"]), ["/etc/hostname"])
