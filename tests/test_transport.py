"""One transport per node: the engine node's namespace transport serves the harness (argv,
timeout, text) and testinfra's ``host`` (its modules sit on top) through the same method.
Entered here into this process's own network namespace, so it needs no node."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest
import testinfra.host

from lrmatrix.command import CmdResult
from lrmatrix.drivers.engine.node import NetnsTransport
from lrmatrix.drivers.ssh import shell_session
from lrmatrix.drivers.transport import read_files
from lrmatrix.errors import NodeError

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


class LocalShell:
    """``shell_session``'s protocol through a real /bin/sh on this machine, fed in chunks of
    ``chunk`` bytes (a marker may arrive split): what the ssh transport does over a channel."""

    def __init__(self, chunk: int = 65536) -> None:
        self.chunk = chunk
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", shell_session.SHELL_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SHELL": "/bin/sh"},
        )

    def run(self, command: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        token = shell_session.new_token()
        reply = shell_session.Reply(token)
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self.proc.stdin.write(shell_session.request(command, stdin, token))
        self.proc.stdin.flush()
        streams = {self.proc.stdout.fileno(): "out", self.proc.stderr.fileno(): "err"}
        deadline = time.monotonic() + 10
        while not reply.done:
            ready, _, _ = select.select(list(streams), [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no answer to {command!r} within 10 s"
            for fd in ready:
                data = os.read(fd, self.chunk)
                assert data, "the shell exited"
                reply.feed(data, b"") if streams[fd] == "out" else reply.feed(b"", data)
        return reply.result()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=[65536, 1], ids=["whole", "byte-by-byte"])
def shell(request):
    sh = LocalShell(request.param)
    yield sh
    sh.close()


def test_a_shell_gives_each_command_its_output_byte_for_byte_and_its_status(shell) -> None:
    assert shell.run("echo out; echo err >&2; exit 3") == (3, b"out\n", b"err\n")
    assert shell.run("printf 'no newline\\0\\377'") == (0, b"no newline\0\xff", b"")
    assert shell.run("printf 'x\\n\\n'; printf 'e' >&2") == (0, b"x\n\n", b"e")
    assert shell.run("echo 'two\nlines' \"it's\"") == (0, b"two\nlines it's\n", b"")


def test_nothing_a_command_does_reaches_the_next_one(shell) -> None:
    assert shell.run("cd /; X=1; exec true") == (0, b"", b"")
    assert shell.run('pwd; echo "${X:-unset}"; exit 4') == (4, f"{Path.cwd()}\nunset\n".encode(), b"")
    # a command killed by a signal: the status a shell gives it, and no word from the shell itself
    assert shell.run("kill -9 $$") == (137, b"", b"")
    assert shell.run("echo still here") == (0, b"still here\n", b"")


def test_stdin_is_the_bytes_given_or_nothing_never_the_next_command(shell) -> None:
    data = b"it's \xff\n'quoted' $HOME `x` \\\n"
    assert shell.run("cat", data) == (0, data, b"")
    assert shell.run("cat") == (0, b"", b"")  # EOF at once, not the shell's own input
    assert shell.run("wc -c") == (0, b"0\n", b"")


def test_output_that_looks_like_a_marker_is_output() -> None:
    sh = LocalShell()
    try:
        other = shell_session.new_token()
        assert sh.run(f"echo {other} 0; echo {other} >&2") == (
            0,
            f"{other} 0\n".encode(),
            f"{other}\n".encode(),
        )
    finally:
        sh.close()


def test_stdin_with_a_nul_or_too_big_goes_another_way() -> None:
    assert shell_session.inline_stdin(b"text\n" * 1000)
    assert not shell_session.inline_stdin(b"a\0b")
    assert not shell_session.inline_stdin(b"x" * (shell_session.MAX_INLINE_STDIN + 1))
