"""The one way to a node: a testinfra backend that the harness and the node checks share.

testinfra's backends implement ``run(command)``; so do these, and the harness's own needs
(an argv, a timeout, text out) come from the same place: ``shell`` is the one method a
backend implements, ``exec`` and testinfra's ``run`` sit on top. ``Node.run`` is
``transport.exec``, and the checks' ``host`` fixture is built on the same object, so a
command the harness runs and one a check runs travel the same way (the engine node's
namespace, the node's one ssh connection).
"""

from __future__ import annotations

import shlex
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from testinfra.backend.base import BaseBackend

from lrmatrix.command import CmdResult

if TYPE_CHECKING:
    from testinfra.backend.base import CommandResult

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

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        """testinfra's entry point: the checks' ``host.run`` comes through here."""
        line = self.get_command(command, *args)
        res = self.shell(line, CHECK_TIMEOUT_S)
        return self.result(res.rc, self.encode(line), res.stdout, res.stderr)
