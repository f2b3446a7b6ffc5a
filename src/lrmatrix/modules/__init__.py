"""Capabilities of a node on top of the way commands reach it, in pytest-testinfra's module style.

A testinfra backend implements ``run``; its modules (``host.process``, ``host.socket``) are
classes bound to the host that turn that one method into a capability. lrmatrix does the same:
a driver provides how commands and files reach its node (``Node.run``, ``Node.read_files``,
over the node's transport), and the Docker and /proc work sits on top in these modules, once
for every driver. The harness reaches them as ``node.dockerd`` and ``node.processes``, the
node checks as ``host.lrm_dockerd`` and ``host.lrm_processes`` (``NodeHost``): the same objects.
A driver supplies what differs on its node by naming a subclass (the engine node finds its
processes by network namespace), as testinfra picks a module class per system.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import testinfra.host

from lrmatrix.command import CmdResult
from lrmatrix.errors import NodeError

if TYPE_CHECKING:
    from testinfra.backend.base import BaseBackend

    from lrmatrix.modules.dockerd import Dockerd
    from lrmatrix.modules.processes import Processes


class Reach(Protocol):
    """What a module needs of its node: how commands and files reach it, and its API socket."""

    @property
    def name(self) -> str: ...

    @property
    def socket_path(self) -> str: ...

    def run(self, argv: list[str], timeout: float = 60.0) -> CmdResult: ...

    def read_files(self, paths: list[str]) -> dict[str, bytes | None]: ...


class Module:
    """A capability bound to one node; its commands go through the node's ``run``."""

    def __init__(self, node: Reach) -> None:
        self.node = node

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        return self.node.run(list(argv), timeout=timeout)

    def check_output(self, argv: Sequence[str], timeout: float = 60.0) -> str:
        """stdout of a command that must succeed; a failure is a NodeError naming it."""
        res = self.run(argv, timeout)
        if not res.ok:
            raise NodeError(f"{' '.join(argv)} failed on the node: {res.one_line()}")
        return res.stdout


class NodeHost(testinfra.host.Host):
    """The checks' testinfra ``host``: testinfra's modules on the node's backend, and the node's
    own modules beside them (``lrm_`` names, clear of testinfra's), the very objects the
    harness uses, so a check and the harness read the node the same way."""

    def __init__(self, backend: BaseBackend, dockerd: Dockerd, processes: Processes) -> None:
        super().__init__(backend)
        self.lrm_dockerd = dockerd
        self.lrm_processes = processes
