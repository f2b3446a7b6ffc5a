"""One transport per node: the engine node's namespace transport serves the harness (argv,
timeout, text) and testinfra's ``host`` (its modules sit on top) through the same method.
Entered here into this process's own network namespace, so it needs no node."""

from __future__ import annotations

import testinfra.host

from lrmatrix.drivers.engine import NetnsTransport

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
