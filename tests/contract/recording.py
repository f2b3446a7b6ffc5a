"""A FAKE for tests: a runner that writes every call down and answers from a responder (the
dry run's fake machine and cluster, contract.dryrun), on a virtual clock, so a whole
Kubernetes cell runs through the real driver and kube steps in no time and the tests read
what it did. The product's runner (lrmatrix.kube.runner.RealRunner) executes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lrmatrix.command import CmdResult
from lrmatrix.kube.runner import ApiReply, Runner, shell_text


class Responder(Protocol):
    """What a dry run answers (contract.dryrun answers like a machine with minikube and a cluster)."""

    def command(self, argv: Sequence[str], now: float) -> CmdResult: ...

    def request(self, method: str, path: str, body: Any, now: float) -> ApiReply: ...


class RecordingRunner(Runner):
    """Dry run: records every call, answers from ``responder``, and sleeps on a virtual clock."""

    def __init__(self, responder: Responder, start_wall: float = 1_700_000_000.0) -> None:
        self.responder = responder
        self._now = 0.0
        self._start_wall = start_wall
        super().__init__()

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        self._note("run", shell_text(argv), argv)
        return self.responder.command(argv, self._now)

    def api(self, method: str, path: str, body: Any, send: Callable[[], Any]) -> Any:
        self._note("api", f"{method} {path}")
        return self.responder.request(method, path, body, self._now)

    def sleep(self, seconds: float, why: str = "") -> None:
        if why:
            self._note("wait", f"wait {seconds:g}s: {why}")
        self._now += max(seconds, 0.0)

    def monotonic(self) -> float:
        return getattr(self, "_now", 0.0)

    def wall(self) -> float:
        return self._start_wall + self._now
