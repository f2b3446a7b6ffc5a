"""The one way to a node: a testinfra backend that the harness and the node checks share.

testinfra's backends implement ``run(command)``; so do these, and the harness's own needs
(an argv, a timeout, text out) come from the same place: ``shell`` is the one method a
backend implements, ``exec`` and testinfra's ``run`` sit on top. ``Node.run`` is
``transport.exec``, and the checks' ``host`` fixture is built on the same object, so a
command the harness runs and one a check runs travel the same way (the engine node's
namespace, the node's one ssh connection).
"""

from __future__ import annotations

import base64
import shlex
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from testinfra.backend.base import BaseBackend

from lrmatrix.command import CmdResult
from lrmatrix.errors import NodeError

if TYPE_CHECKING:
    from testinfra.backend.base import CommandResult

#: every argument as base64 on a line of its own: ``1 <data>``, or ``0`` when it cannot be read
READ_FILES_SCRIPT = (
    'for f in "$@"; do if c=$(base64 -w0 -- "$f" 2>/dev/null); then printf "1 %s\\n" "$c"; '
    "else echo 0; fi; done"
)
#: how long a check's command may run (testinfra's ``run`` has no timeout of its own)
CHECK_TIMEOUT_S = 120.0


class Transport(BaseBackend):
    """A testinfra backend that the harness runs its commands through as well."""

    @abstractmethod
    def shell(self, line: str, timeout: float, argv: Sequence[str] = ()) -> CmdResult:
        """Run one shell command line on the node; a command still running at ``timeout`` is
        cut and reported with exit status 124 (as coreutils' ``timeout`` does)."""

    def exec(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        """Run ``argv`` on the node, quoted once."""
        return self.shell(shlex.join(argv), timeout, argv)

    def line(self, argv: Sequence[str]) -> str:
        """``argv`` as ``exec`` sends it, for ``lrmatrix plan --commands``: the local command
        line where the transport is one, or the line the node's shell receives."""
        return shlex.join(argv)

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        """testinfra's entry point: the checks' ``host.run`` comes through here."""
        line = self.get_command(command, *args)
        res = self.shell(line, CHECK_TIMEOUT_S)
        return self.result(res.rc, self.encode(line), res.stdout, res.stderr)


def read_files(run: Callable[[list[str]], CmdResult], paths: list[str]) -> dict[str, bytes | None]:
    """Many small files in one command, ``None`` where one cannot be read (absent, or a process
    gone meanwhile): a node reached over ssh pays one round trip instead of one per file."""
    if not paths:
        return {}
    res = run(["sh", "-c", READ_FILES_SCRIPT, "sh", *paths])
    lines = res.stdout.splitlines()
    if not res.ok or len(lines) != len(paths):
        raise NodeError(f"cannot read {len(paths)} files on the node: {res.one_line()}")
    return {
        path: base64.b64decode(line[2:]) if line.startswith("1 ") else None
        for path, line in zip(paths, lines, strict=True)
    }
