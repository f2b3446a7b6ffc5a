"""What a command on a node returns, whatever carried it (a local process, nsenter, ssh,
``minikube ssh``). Its own module so drivers and the Kubernetes runner both use it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CmdResult:
    """Outcome of a command on the node; the same shape whatever the transport."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def one_line(self) -> str:
        text = (self.stderr or self.stdout).strip().splitlines()
        return text[-1] if text else f"exit {self.rc}"
