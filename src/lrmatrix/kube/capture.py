"""The Kubernetes API calls of a step by verb and path, as the real client builds them, with
nothing sent: for ``lrmatrix plan CELL --commands``.

A step (``KubeWorkload.deploy``, ``Kube.readyz``, ...) runs on a runner that writes each call
down instead of sending it. A write (POST, PATCH, PUT, DELETE) is acknowledged with 204 No
Content (the client then reads no object) so the step goes on to its next call; a read ends
the step there, since its answer would decide what comes next. This is no cluster: it
answers no question about one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from lrmatrix.command import CmdResult
from lrmatrix.kube.api import Kube
from lrmatrix.kube.runner import ApiReply, Runner

#: the API server address a plan shows (the cell's real one comes from its kubeconfig)
PLAN_CONTEXT = "plan"


class Unsent(Exception):
    """A read (or a command) reached: the step ends here in a plan."""


class CaptureRunner(Runner):
    """Writes every API call down and sends none; runs no command and never sleeps."""

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        raise Unsent(f"a plan runs no command ({' '.join(argv)})")

    def api(self, method: str, path: str, body: Any, send: Callable[[], Any]) -> Any:
        self._note("api", f"{method} {path}")
        if method == "GET":
            raise Unsent(path)
        return ApiReply(204, b"", "No Content")

    def sleep(self, seconds: float, why: str = "") -> None:
        raise Unsent(f"a plan does not wait ({why or seconds})")

    def monotonic(self) -> float:
        return time.monotonic()


def api_calls(step: Callable[[Kube], object]) -> list[str]:
    """``VERB /path`` of every call ``step`` makes up to its first read (that one included)."""
    runner = CaptureRunner()
    with contextlib.suppress(Unsent):
        step(Kube.offline(runner, PLAN_CONTEXT))
    return [c.text for c in runner.calls if c.kind == "api"]
