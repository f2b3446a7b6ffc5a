"""What every node module is: a capability bound to one node, over its ``run``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lrmatrix.command import CmdResult
from lrmatrix.errors import NodeError


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
