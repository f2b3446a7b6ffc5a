"""The ssh node's transport: long-lived shells on its one SSH connection (``shell_session``),
and an exec channel of its own for a file streamed in. The harness's commands and the checks'
testinfra ``host`` both go through it."""

from __future__ import annotations

import select
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from lrmatrix.command import CmdResult
from lrmatrix.deadline import Clock, poll
from lrmatrix.drivers.ssh import shell_session
from lrmatrix.drivers.transport import Transport
from lrmatrix.errors import NodeError

if TYPE_CHECKING:
    from lrmatrix.drivers.ssh.node import SshNode

CONNECT_TIMEOUT_S = 10.0
#: shells open at once on the node's one connection: the checks, the daemon watch and the
#: log-pressure watch share it, and sshd refuses more than MaxSessions (10 by default)
MAX_CHANNELS = 6
STREAM_CHUNK = 256 * 1024


class SshTransport(Transport):
    """Long-lived shells on the node's one SSH connection (``SshNode.client``, host keys checked,
    reopened if it dropped): the harness's commands and testinfra's ``host`` alike.

    A command goes to an idle shell of the pool (``shell_session``): a few milliseconds, where a
    new exec channel costs sshd a session and a login shell each time (about 90 ms here). The
    checks, the daemon watch and the log-pressure watch run at once, so the pool holds up to
    ``MAX_CHANNELS`` shells, each serving one command at a time. A file streamed in (an image
    tarball) still has an exec channel of its own."""

    NAME = "lrmatrix-ssh"

    def __init__(self, node: SshNode) -> None:
        self.node = node
        self.channels = threading.BoundedSemaphore(MAX_CHANNELS)
        self._idle: list[paramiko.Channel] = []
        self._lock = threading.Lock()
        super().__init__(f"{node.user}@{node.host}:{node.port}")

    def shell(
        self, line: str, timeout: float, argv: Sequence[str] = (), stdin: bytes | Path = b""
    ) -> CmdResult:
        rc, out, err = self.exec_raw(line, timeout, stdin)
        return CmdResult(
            tuple(argv) or (line,), rc, out.decode(errors="replace"), err.decode(errors="replace")
        )

    def exec_raw(self, command: str, timeout: float, stdin: bytes | Path = b"") -> tuple[int, bytes, bytes]:
        """Run ``command`` with ``stdin`` (bytes, or a local file streamed in chunks) and then EOF.
        Files travel this way too, so the node's sshd needs no SFTP subsystem (hardened nodes
        often have none). A command still running at ``timeout`` is cut (124): its shell is
        closed, as its exec channel would be."""
        with self.channels:
            if isinstance(stdin, Path) or not shell_session.inline_stdin(stdin):
                return self._exec(command, timeout, stdin)
            chan = self._borrow()
            try:
                reply = self._converse(chan, command, timeout, stdin)
            except BaseException:
                chan.close()
                raise
            if not reply.done:
                chan.close()
                return 124, reply.out.before, f"timed out after {timeout}s".encode()
            with self._lock:
                self._idle.append(chan)
            return reply.result()

    def forget(self) -> None:
        """The connection is closed: its shells went with it."""
        with self._lock:
            self._idle.clear()

    def _borrow(self) -> paramiko.Channel:
        """An idle shell on the current connection, or a new one."""
        current = self.node.client.get_transport()
        with self._lock:
            while self._idle:
                chan = self._idle.pop()
                if chan.get_transport() is current and not (
                    chan.closed or chan.eof_received or chan.exit_status_ready()
                ):
                    return chan
                chan.close()
        chan = self._open_channel()
        try:
            chan.exec_command(shell_session.SHELL_COMMAND)
        except (OSError, paramiko.SSHException) as exc:
            chan.close()
            raise NodeError(f"cannot start a shell on {self.node.label}: {exc}") from None
        return chan

    def _converse(
        self, chan: paramiko.Channel, command: str, timeout: float, stdin: bytes
    ) -> shell_session.Reply:
        """One command through the shell on ``chan``; not ``done`` if still running at ``timeout``."""
        token = shell_session.new_token()
        reply = shell_session.Reply(token)

        def answered() -> bool:
            while chan.recv_ready() or chan.recv_stderr_ready():
                reply.feed(
                    chan.recv(65536) if chan.recv_ready() else b"",
                    chan.recv_stderr(65536) if chan.recv_stderr_ready() else b"",
                )
            if reply.done:
                return True
            if chan.closed or chan.eof_received:
                raise OSError("the shell on the node exited")
            return False

        try:
            chan.settimeout(timeout)
            chan.sendall(shell_session.request(command, stdin, token))
            # between checks, wait on the channel itself: woken as soon as output arrives
            poll(answered, timeout, 0.05, Clock(sleep=lambda s: select.select([chan], [], [], s)))
        except (TimeoutError, OSError, paramiko.SSHException) as exc:
            why = str(exc) or type(exc).__name__
            raise NodeError(f"`{command[:80]}` on {self.node.label} broke off: {why}") from None
        return reply

    def _open_channel(self) -> paramiko.Channel:
        """A new exec channel; sshd refuses one while it still counts closing channels against
        MaxSessions, so a refusal is tried again for up to two seconds."""
        transport = self.node.client.get_transport()
        assert transport is not None
        refused: list[str] = []

        def opened() -> paramiko.Channel | None:
            try:
                return transport.open_session(timeout=CONNECT_TIMEOUT_S)
            except paramiko.SSHException as exc:  # concurrent opens may see the bare form
                refused.append(str(exc))
                return None

        chan = poll(opened, 2.0, 0.1)
        if chan is None:
            raise NodeError(f"{self.node.label} refused a new SSH channel: {refused[-1] if refused else '?'}")
        return chan

    def _exec(self, command: str, timeout: float, stdin: bytes | Path) -> tuple[int, bytes, bytes]:
        chan = self._open_channel()
        out, err = bytearray(), bytearray()

        def drained() -> bool:
            while chan.recv_ready():
                out.extend(chan.recv(65536))
            while chan.recv_stderr_ready():
                err.extend(chan.recv_stderr(65536))
            return chan.exit_status_ready() and (chan.eof_received or chan.closed)

        try:
            chan.settimeout(timeout)
            chan.exec_command(command)
            if isinstance(stdin, Path):
                with stdin.open("rb") as fh:
                    while chunk := fh.read(STREAM_CHUNK):
                        chan.sendall(chunk)
            elif stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            # between checks, wait on the channel itself: woken as soon as output arrives
            if not poll(drained, timeout, 0.05, Clock(sleep=lambda s: select.select([chan], [], [], s))):
                return 124, bytes(out), f"timed out after {timeout}s".encode()
            drained()
            rc = chan.recv_exit_status()
        except (TimeoutError, OSError, paramiko.SSHException) as exc:
            why = str(exc) or type(exc).__name__
            raise NodeError(f"`{command[:80]}` on {self.node.label} broke off: {why}") from None
        finally:
            chan.close()
        return rc, bytes(out), bytes(err)
