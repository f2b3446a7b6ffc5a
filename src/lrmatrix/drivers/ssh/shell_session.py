"""Commands one after another through one long-lived shell: what makes a command over ssh cost a
write and a read instead of a new session (sshd forks a session and a login shell for every
exec channel: about 90 ms each on a connection to this very machine).

The shell (``/bin/sh`` reading its stdin) runs each command as ``"$SHELL" -c <command>``, what
sshd itself runs for an exec channel, in a process of its own, so nothing a command does (``cd``,
``exec``, ``exit``) reaches the next one. Its stdin is /dev/null or the bytes given, never the
shell's own input. After it the shell writes a marker with a token drawn for this command alone:
``<token> <exit status>`` on stdout and ``<token>`` on stderr. What precedes them is the
command's output, byte for byte (no newline added or removed). The protocol needs only the
shell's builtins, so a node whose PATH is broken answers as an exec channel would.
"""

from __future__ import annotations

import secrets
import shlex

#: what the exec channel runs: a shell that reads the commands from its stdin. The channel's
#: stderr is fd 3 for the commands: the shell's own messages (a job killed by a signal) go nowhere
SHELL_COMMAND = "exec /bin/sh 3>&2 2>/dev/null"
#: stdin bytes sent inside the command line; more, or bytes with a NUL (a shell word cannot
#: hold one), go on an exec channel of their own
MAX_INLINE_STDIN = 1 << 20


def inline_stdin(data: bytes) -> bool:
    """Whether ``data`` can be a command's stdin through the shell."""
    return len(data) <= MAX_INLINE_STDIN and b"\0" not in data


def new_token() -> str:
    return f"lrm-end-{secrets.token_hex(16)}"


def quote_bytes(data: bytes) -> bytes:
    """``data`` as one single-quoted shell word (any bytes but NUL)."""
    return b"'" + data.replace(b"'", b"'\\''") + b"'"


def request(command: str, stdin: bytes, token: str) -> bytes:
    """The lines that make the shell run ``command`` once and then write the markers."""
    # in a subshell of its own: the shell reports a command killed by a signal on its stderr
    # (nowhere), not on the redirected one
    run = b'(SHLVL=1 exec "${SHELL:-/bin/sh}" -c ' + shlex.quote(command).encode() + b" 2>&3 3>&-"
    run = b"printf %s " + quote_bytes(stdin) + b" | " + run + b")" if stdin else run + b" </dev/null)"
    return run + f'\necho "{token} $?"; echo {token} >&3\n'.encode()


class _Stream:
    """One of the command's two streams, up to its marker."""

    def __init__(self, mark: bytes) -> None:
        self.data = bytearray()
        self.mark = mark
        self.end: int | None = None  # where the marker starts, once seen

    def feed(self, chunk: bytes) -> None:
        start = max(0, len(self.data) - len(self.mark) + 1)  # a marker split across chunks
        self.data += chunk
        if self.end is None and chunk:
            at = self.data.find(self.mark, start)
            self.end = at if at >= 0 else None

    @property
    def before(self) -> bytes:
        return bytes(self.data[: self.end])

    @property
    def after(self) -> bytes:
        return bytes(self.data[self.end + len(self.mark) :]) if self.end is not None else b""


class Reply:
    """The output of one command, fed as it arrives, complete once both markers are in."""

    def __init__(self, token: str) -> None:
        self.out = _Stream(f"{token} ".encode())
        self.err = _Stream(f"{token}\n".encode())

    def feed(self, out: bytes, err: bytes) -> None:
        self.out.feed(out)
        self.err.feed(err)

    @property
    def rc(self) -> int | None:
        """The exit status, once its line is complete."""
        status, newline, _ = self.out.after.partition(b"\n")
        return int(status) if newline else None

    @property
    def done(self) -> bool:
        return self.err.end is not None and self.rc is not None

    def result(self) -> tuple[int, bytes, bytes]:
        """(exit status, stdout, stderr) of the command, once ``done``."""
        rc = self.rc
        assert rc is not None and self.err.end is not None
        return rc, self.out.before, self.err.before
