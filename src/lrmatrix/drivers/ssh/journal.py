"""systemd's own words about the docker units of an ssh node: where its journal is now (a
cursor), what PID 1 said about the units after it, and from those who brought dockerd back
after lrmatrix stopped it. Read over the node's transport; the sentences are made from the
messages alone, so they are tested without a node."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from lrmatrix.drivers.base import UnitMessage
from lrmatrix.drivers.ssh.service_manager import GONE_WORDS
from lrmatrix.modules.dockerd import DOCKER_SERVICE, DOCKER_SOCKET

if TYPE_CHECKING:
    from lrmatrix.command import CmdResult

Shell = Callable[[str, float], "CmdResult"]
#: how long a journal query may take
JOURNAL_TIMEOUT_S = 30.0


def mark(shell: Shell, timeout: float) -> str:
    """The journal's cursor now: what happens after it can be read with ``unit_messages``."""
    out = shell("journalctl -n 0 --show-cursor -q", timeout).stdout
    return out.rpartition("-- cursor: ")[2].strip()


def unit_messages(shell: Shell, cursor: str, units: tuple[str, ...]) -> list[UnitMessage]:
    """systemd's own messages on ``units`` after ``cursor``: PID 1's, not ``-u docker.service``,
    since once the unit is masked its "Main process exited" no longer matches the unit filter."""
    if not cursor:
        return []
    command = shlex.join(["journalctl", "_PID=1", "-o", "json", "--no-pager", "--after-cursor", cursor])
    found = []
    for line in shell(command, JOURNAL_TIMEOUT_S).stdout.splitlines():
        try:
            entry = json.loads(line)
            message = str(entry["MESSAGE"])
            if any(unit in message for unit in units):
                mono, wall = (int(entry[f"__{k}_TIMESTAMP"]) / 1e6 for k in ("MONOTONIC", "REALTIME"))
                found.append(UnitMessage(mono, wall, message))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def why_up_again(messages: list[UnitMessage], pid: int | None, label: str, socket_path: str) -> str | None:
    """Why dockerd (``pid``, None if only its socket is back) runs again after lrmatrix stopped
    it, in one sentence, from systemd's messages on the docker units since the stop; None if
    they show nothing. They say when the unit stopped and started, and whether systemd
    scheduled a restart (Restart=on-failure). A start without one while docker.socket kept
    listening is socket activation or someone else's start command (the journal cannot tell
    those apart, so the sentence names both); once the socket was closed, only a start."""
    entries = [(m.t, m.message) for m in messages]
    if pid is None:  # a socket that listens again is a daemon its first client starts
        reopened = any(m.startswith(f"Listening on {DOCKER_SOCKET}") for _, m in entries)
        return (
            f"{DOCKER_SOCKET} listens again on {label}, started by something other than lrmatrix: "
            f"its first client starts dockerd"
            if reopened
            else None
        )
    gone = next((t for t, m in entries if any(w in m for w in GONE_WORDS)), None)
    restart = next((t for t, m in entries if "Scheduled restart job" in m), None)
    started = next((t for t, m in entries if m.startswith(f"Started {DOCKER_SERVICE}")), None)
    after = f" {started - gone:.1f} s after it exited" if started is not None and gone is not None else ""
    if restart is not None:
        return f"systemd restarted dockerd{after} ({DOCKER_SERVICE} has Restart=on-failure; now pid {pid})"
    starting = next((t for t, m in entries if m.startswith(f"Starting {DOCKER_SERVICE}")), float("inf"))
    if any(m.startswith(f"Closed {DOCKER_SOCKET}") for t, m in entries if t < starting):
        # a closed socket unit activates nothing: something started the units again
        return (
            f"{DOCKER_SOCKET} and {DOCKER_SERVICE} were started again{after} (now pid {pid}) by something "
            f"other than lrmatrix: a start command, or a unit that requires them"
        )
    return (
        f"{DOCKER_SERVICE} started again{after} with {DOCKER_SOCKET} listening (now pid {pid}): socket "
        f"activation by a client of {socket_path}, or a start command that was not lrmatrix's"
    )
