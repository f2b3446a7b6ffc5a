"""The live line of a running cell, on a terminal only: phase, elapsed time, the daemon's last
state the run saw, and failures so far, redrawn by rich below pytest's own output.

Not on a terminal (CI logs, files, pipes) nothing is drawn and pytest's output is untouched.
"""

from __future__ import annotations

import io
import os
import time
from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from lrmatrix.run.background import PROBE, ProbeRun
from lrmatrix.run.runner import Runner


def line(runner: Runner, elapsed_s: float) -> str:
    """What the run has reached, in one line, from what it recorded (never a guess)."""
    said = [e.name for e in sorted(runner.events(), key=lambda e: e.t) if e.name.startswith("daemon ")]
    daemon = said[-1].removeprefix("daemon ") if said else "not touched yet"
    checks = sum(not c.passed for c in runner.checks())
    failed = f"failed: {checks} check{'s' if checks != 1 else ''}"
    probe = runner.running.get(PROBE, ProbeRun)
    if probe is not None:
        samples = [s for record in probe.probe.records.values() for s in list(record.samples)]
        failed += f", {sum(not s.ok for s in samples)}/{len(samples)} requests"
    minutes, seconds = divmod(int(elapsed_s), 60)
    phase = runner.status.phase or "setup"
    return f"{runner.cell.name}  {phase}  {minutes}:{seconds:02d}  daemon {daemon}  {failed}"


class _Above(io.TextIOBase):
    """Pytest's terminal file while the line is shown: its whole lines (colours kept) are
    printed above the line; a part line (progress dots) waits for its end, or for ``stop``."""

    def __init__(self, console: Console, terminal: IO[str]) -> None:
        self.console, self.terminal, self.part = console, terminal, ""

    def write(self, text: str) -> int:
        *lines, self.part = (self.part + text).split("\n")
        if lines:
            self.console.print(Text("\n").join(Text.from_ansi(ln) for ln in lines))
        return len(text)

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.terminal.fileno()

    def rest(self) -> str:
        part, self.part = self.part, ""
        return part


class LiveLine:
    """Redrawn four times a second by rich's Live; pytest's lines are printed above it."""

    def __init__(self, runner: Runner, writer: Any) -> None:
        self.runner = runner
        self.started = time.monotonic()
        self.writer = writer  # pytest's TerminalWriter: its ``_file`` is the terminal
        self.terminal: IO[str] = writer._file
        # a file of its own on the terminal: pytest points fd 1 elsewhere while a test runs
        self.file = os.fdopen(os.dup(self.terminal.fileno()), "w", encoding="utf-8", errors="replace")
        console = Console(file=self.file, force_terminal=True)
        self.live = Live(self, console=console, refresh_per_second=4, transient=True)

    def __rich__(self) -> Text:
        return Text(line(self.runner, time.monotonic() - self.started), style="bold", no_wrap=True)

    @classmethod
    def start(cls, runner: Runner, writer: Any) -> LiveLine | None:
        """Draw below pytest's terminal ``writer``, or nothing when that is not a terminal."""
        terminal = getattr(writer, "_file", None)
        if terminal is None or not terminal.isatty():
            return None
        live = cls(runner, writer)
        writer._file = _Above(live.live.console, live.terminal)  # pytest's lines go above it
        live.live.start()
        return live

    def stop(self) -> None:
        """Remove the line and give pytest its terminal back (what it wrote is on screen)."""
        above = self.writer._file
        self.live.stop()
        self.writer._file = self.terminal
        if isinstance(above, _Above):
            self.terminal.write(above.rest())
        self.file.close()
