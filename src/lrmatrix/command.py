"""What a command on a node returns, whatever carried it (a local process, nsenter, ssh,
``minikube ssh``). Its own module so drivers and the Kubernetes runner both use it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass

#: the docker CLI's last line after an error ("Run 'docker run --help' for more information",
#: "See 'docker run --help'."): advice, never the reason, which is the line before
CLI_HINTS = ("Run 'docker ", "See 'docker ")


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
        text = [line for line in (self.stderr or self.stdout).strip().splitlines() if line.strip()]
        reasons = [line for line in text if not line.startswith(CLI_HINTS)]
        return (reasons or text or [f"exit {self.rc}"])[-1]
