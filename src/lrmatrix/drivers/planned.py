"""What a node operation will do, as data: ``lrmatrix plan CELL --commands`` prints it.

The drivers build these from the same argv builders their methods run, so a plan can only
show a command a run would send (``tests/test_plan_commands.py`` checks it both ways).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["run", "api", "signal", "write", "wait", "note"]

#: how each kind is marked in the plan's text
MARKS: dict[str, str] = {"run": "$", "api": ">", "signal": "!", "write": "+", "wait": "~", "note": "#"}


@dataclass(frozen=True)
class Planned:
    """One thing a step does: a command line as it leaves this machine (``run``), an API call
    by verb and path (``api``), a signal to a process, a file written, or a wait with what
    ends it and its bound."""

    kind: Kind
    text: str

    def line(self) -> str:
        return f"{MARKS[self.kind]} {self.text}"


def wait(until: str, bound_s: float) -> Planned:
    """A wait as a wait: what ends it, and the bound at which it fails."""
    return Planned("wait", f"until {until}, up to {bound_s:g} s")


def note(text: str) -> Planned:
    return Planned("note", text)
