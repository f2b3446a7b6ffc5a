"""One object through which every node command, Kubernetes API call and wait of a cell passes.

The real runner executes. Because the minikube driver and the kube helpers only ever talk to
a runner, the tests' recording runner (tests/contract/recording.py: each call written down,
answered by a fake machine and cluster, on a virtual clock) drives the same code path as a
real run.
"""

from __future__ import annotations

import json
import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lrmatrix.command import CmdResult
from lrmatrix.deadline import Clock, nap
from lrmatrix.process import run as run_local


@dataclass
class ApiReply:
    """An API response in the shape the ``kubernetes`` client's REST layer hands back."""

    status: int
    data: bytes
    reason: str = "OK"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def read(self) -> bytes:
        return self.data

    def getheaders(self) -> dict[str, str]:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def json(self) -> Any:
        return json.loads(self.data or b"null")


@dataclass(frozen=True)
class Call:
    """One thing a cell did: ``run`` (a process), ``api`` (an HTTP call), ``wait`` (a sleep)."""

    kind: str
    text: str
    t: float
    argv: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """As a user would type it; a ``minikube ssh --`` line is shown as the remote line."""
        if self.argv[:1] == ("minikube",) and self.argv[-2:-1] == ("--",):
            return f"{shell_text(self.argv[:-1])} {self.argv[-1]}"
        return self.text


class Runner(ABC):
    """Runs commands and API calls; ``calls`` keeps what it did, in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._t0 = self.monotonic()

    def _note(self, kind: str, text: str, argv: Sequence[str] = ()) -> None:
        self.calls.append(Call(kind, text, round(self.monotonic() - self._t0, 3), tuple(argv)))

    def mark(self, text: str) -> None:
        """A heading in the record (the phase being entered), not an action."""
        self._note("mark", text)

    @abstractmethod
    def run(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        """Run a local command (minikube, kubectl, ``minikube ssh -- ...``)."""

    @abstractmethod
    def api(self, method: str, path: str, body: Any, send: Callable[[], Any]) -> Any:
        """One Kubernetes API call; ``send`` performs it for real."""

    @abstractmethod
    def sleep(self, seconds: float, why: str = "") -> None:
        """Wait; ``why`` names it in a recording (e.g. the outage window)."""

    @abstractmethod
    def monotonic(self) -> float:
        """The clock waits and timelines are measured on."""

    def wall(self) -> float:
        return time.time()

    @property
    def clock(self) -> Clock:
        """This runner's clock for ``deadline.poll`` (virtual in a recording)."""
        return Clock(self.monotonic, self.sleep)


class RealRunner(Runner):
    """Executes for real; still records, so a result can list what was done."""

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> CmdResult:
        self._note("run", shell_text(argv), argv)
        res = run_local(argv, timeout=timeout)
        return CmdResult(tuple(argv), res.returncode, res.stdout, res.stderr)

    def api(self, method: str, path: str, body: Any, send: Callable[[], Any]) -> Any:
        self._note("api", f"{method} {path}")
        return send()

    def sleep(self, seconds: float, why: str = "") -> None:
        if seconds > 0:
            nap(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


def shell_text(argv: Sequence[str]) -> str:
    """argv as a user would type it (quoted only where needed), for plans and errors."""
    return " ".join(shlex.quote(a) for a in argv)
