"""The ssh node's transport: its one SSH connection (host keys checked, reopened if it dropped),
long-lived shells on it (``shell_session``), an exec channel of its own for a file streamed in,
and the node's files read and written through them. It owns the connection, as testinfra's
paramiko backend owns its client; the harness's commands and the checks' testinfra ``host``
both go through it.

Settings (node-spec option, else environment): ``known_hosts`` / LRMATRIX_SSH_KNOWN_HOSTS
(default ~/.ssh/known_hosts), ``identity`` / LRMATRIX_SSH_KEY (default: agent and ~/.ssh keys).
"""

from __future__ import annotations

import getpass
import os
import select
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import TYPE_CHECKING

from lrmatrix.command import CmdResult
from lrmatrix.deadline import Clock, poll
from lrmatrix.drivers.ssh import shell_session
from lrmatrix.drivers.transport import Transport
from lrmatrix.errors import BadInput, EnvironmentProblem, LrmatrixError, NodeError

try:
    import paramiko
except ImportError as exc:  # make_node turns this into one line and exit 2
    raise EnvironmentProblem("the ssh driver needs paramiko: pip install 'lrmatrix[ssh]'") from exc

if TYPE_CHECKING:
    from lrmatrix.drivers.spec import NodeSpec

CONNECT_TIMEOUT_S = 10.0
UPLOAD_TIMEOUT_S = 300.0
#: shells open at once on the node's one connection: the checks, the daemon watch and the
#: log-pressure watch share it, and sshd refuses more than MaxSessions (10 by default)
MAX_CHANNELS = 6
STREAM_CHUNK = 256 * 1024
ABSENT_RC = 3  # read_file's "no such file", apart from cat's own failures (1)


def setting(spec: NodeSpec, key: str, env: str, default: str) -> str:
    """A node-spec option, else the environment variable, else the default."""
    return spec.options.get(key) or os.environ.get(env) or default


def read_line(path: str) -> str:
    """Absent is told apart from unreadable by the exit status."""
    quoted = shlex.quote(path)
    return f"test -e {quoted} || exit {ABSENT_RC}; exec cat -- {quoted}"


def write_line(path: str) -> str:
    """``cat >`` truncates the existing file: same inode, as bind mounts need; the bytes go on stdin."""
    return f"cat > {shlex.quote(path)}"


@dataclass(frozen=True)
class SshTarget:
    """Who connects where, and which keys are trusted."""

    host: str
    port: int
    user: str
    known_hosts: str
    key_file: str | None

    @classmethod
    def from_spec(cls, spec: NodeSpec) -> SshTarget:
        if not spec.host:
            raise BadInput("the ssh driver needs a node spec with a host: --node ssh://user@host[:port]")
        return cls(
            spec.host,
            22 if spec.port is None else spec.port,
            spec.user or getpass.getuser(),
            setting(
                spec, "known_hosts", "LRMATRIX_SSH_KNOWN_HOSTS", str(Path("~/.ssh/known_hosts").expanduser())
            ),
            setting(spec, "identity", "LRMATRIX_SSH_KEY", "") or None,
        )

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class _RejectUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, with a message that says which key and what to do about it."""

    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise EnvironmentProblem(
            f"the host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in "
            f"{self.known_hosts}; lrmatrix never accepts unknown host keys: check the fingerprint "
            f"on the node, then add it (ssh-keyscan) or set LRMATRIX_SSH_KNOWN_HOSTS"
        )


class SshTransport(Transport):
    """The node's one SSH connection and long-lived shells on it: the harness's commands and
    testinfra's ``host`` alike.

    A command goes to an idle shell of the pool (``shell_session``): a few milliseconds, where a
    new exec channel costs sshd a session and a login shell each time (about 90 ms here). The
    checks, the daemon watch and the log-pressure watch run at once, so the pool holds up to
    ``MAX_CHANNELS`` shells, each serving one command at a time. A file streamed in (an image
    tarball) still has an exec channel of its own. Files are read and written over these
    channels: the node's sshd needs no SFTP."""

    NAME = "lrmatrix-ssh"

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self.channels = threading.BoundedSemaphore(MAX_CHANNELS)
        self._idle: list[paramiko.Channel] = []
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self._connecting = threading.Lock()  # the watches' threads ask for the connection too
        super().__init__(target.label)

    @property
    def label(self) -> str:
        return self.target.label

    def line(self, argv: Sequence[str]) -> str:
        """The line the node's shell gets over the one connection (paramiko, not an ssh binary)."""
        return f"[{self.label}] {shlex.join(argv)}"

    # --- the connection ------------------------------------------------------------------
    @property
    def client(self) -> paramiko.SSHClient:
        """The one SSH connection (reopened if it dropped)."""
        with self._connecting:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                self.close()
                self._client = self._connect()
            return self._client

    def _connect(self) -> paramiko.SSHClient:
        target, label = self.target, self.label
        if not Path(target.known_hosts).is_file():
            raise EnvironmentProblem(
                f"no known_hosts file at {target.known_hosts}: lrmatrix checks {target.host}'s host key "
                f"against it; create it (ssh-keyscan, after checking the fingerprint) or set "
                f"LRMATRIX_SSH_KNOWN_HOSTS"
            )
        if target.key_file and not Path(target.key_file).is_file():
            raise EnvironmentProblem(f"the SSH key {target.key_file} (LRMATRIX_SSH_KEY) does not exist")
        client = paramiko.SSHClient()
        client.load_system_host_keys(target.known_hosts)
        client.set_missing_host_key_policy(_RejectUnknownHost(target.known_hosts))
        try:
            client.connect(
                target.host,
                target.port,
                target.user,
                key_filename=target.key_file,
                timeout=CONNECT_TIMEOUT_S,
                banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
            )
        except LrmatrixError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise EnvironmentProblem(
                f"the host key of {label} ({exc.key.fingerprint}) does not match {target.known_hosts}: "
                f"the node was reinstalled or someone is in between; check before replacing the entry"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            how = target.key_file or "the SSH agent and ~/.ssh keys"
            raise EnvironmentProblem(
                f"SSH authentication as {target.user} on {label} failed with {how} ({exc}); "
                f"authorize the key on the node or set LRMATRIX_SSH_KEY"
            ) from None
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            errors = getattr(exc, "errors", {})  # NoValidConnectionsError: one per address tried
            reason = "; ".join(str(e.strerror or e) for e in errors.values()) or str(exc)
            raise EnvironmentProblem(f"cannot reach {label} over SSH: {reason}") from None
        connection = client.get_transport()
        setsockopt = getattr(connection.sock, "setsockopt", None) if connection else None
        if setsockopt is not None:  # a TCP socket (not a ProxyCommand)
            # small packets (a command, a window adjust) are not held back until the last is acked
            setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        return client

    def close(self) -> None:
        """Close the connection; its shells go with it (the next command opens a new one)."""
        if self._client is not None:
            self._client.close()
        self._client = None
        with self._lock:
            self._idle.clear()

    # --- files, over the same channels ---------------------------------------------------
    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, ``None`` if it does not exist."""
        rc, out, err = self.exec_raw(read_line(path), 60)
        if rc == 0:
            return out
        if rc == ABSENT_RC or path.startswith("/proc/"):  # a process may go between test and cat
            return None
        raise NodeError(f"cannot read {path} on {self.label}: {err.decode(errors='replace').strip()}")

    def write_file(self, path: str, data: bytes) -> None:
        """``cat >`` truncates the existing file: same inode, as bind mounts need."""
        res = self.shell(write_line(path), 60, ("write", path), data)
        if not res.ok:
            raise NodeError(f"cannot write {path} on {self.label}: {res.one_line()}")

    def upload(self, local: Path, remote: str) -> None:
        """A local file to the node, streamed over an exec channel (no SFTP)."""
        sent = self.shell(f"cat > {shlex.quote(remote)}", UPLOAD_TIMEOUT_S, ("upload", remote), local)
        if not sent.ok:
            raise NodeError(f"cannot upload {local.name} to {self.label}: {sent.one_line()}")

    def exists(self, path: str) -> bool:
        return self.shell(f"test -e {shlex.quote(path)}", CONNECT_TIMEOUT_S).ok

    # --- commands ------------------------------------------------------------------------

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

    def _borrow(self) -> paramiko.Channel:
        """An idle shell on the current connection, or a new one."""
        current = self.client.get_transport()
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
            raise NodeError(f"cannot start a shell on {self.label}: {exc}") from None
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
            raise NodeError(f"`{command[:80]}` on {self.label} broke off: {why}") from None
        return reply

    def _open_channel(self) -> paramiko.Channel:
        """A new exec channel; sshd refuses one while it still counts closing channels against
        MaxSessions, so a refusal is tried again for up to two seconds."""
        transport = self.client.get_transport()
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
            raise NodeError(f"{self.label} refused a new SSH channel: {refused[-1] if refused else '?'}")
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
            raise NodeError(f"`{command[:80]}` on {self.label} broke off: {why}") from None
        finally:
            chan.close()
        return rc, bytes(out), bytes(err)
