"""``/proc/<pid>/stat`` and ``/proc/net/unix`` read in one place, whichever transport brought
their text.

The command name (field 2) may hold spaces and parentheses, so the fields are split after
the last ``)``. ``stat_fields`` is plain Python with no imports: the gauge that runs on a
node (stdout_pipes.GAUGE) carries its source, so the node parses stat the same way.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass


def stat_fields(text):  # noqa: ANN001, ANN201 - shipped as source to any python3 a node has
    """The fields after the command name: [state, ppid, ...], starttime at index 19; [] if unreadable."""
    _, sep, tail = text.rpartition(")")
    return tail.split() if sep else []


#: ``stat_fields`` as source, for scripts that run on a node
STAT_FIELDS_SOURCE = inspect.getsource(stat_fields)


@dataclass(frozen=True)
class Stat:
    """What the harness reads from a process's stat line."""

    pid: int
    comm: str
    state: str
    ppid: int
    start_ticks: int

    @property
    def zombie(self) -> bool:
        return self.state == "Z"


def parse_stat(text: str) -> Stat | None:
    """One ``/proc/<pid>/stat`` line, ``None`` if it is not one (a process gone mid-read)."""
    fields: list[str] = stat_fields(text)
    head = text.rpartition(")")[0]
    pid, _, comm = head.partition(" (")
    if len(fields) < 20 or not pid.strip().isdigit():
        return None
    return Stat(int(pid), comm, fields[0], int(fields[1]), int(fields[19]))


def parse_stats(text: str) -> list[Stat]:
    """Many stat lines (``cat /proc/[0-9]*/stat``), the unreadable ones left out."""
    return [st for line in text.splitlines() if (st := parse_stat(line)) is not None]


#: /proc/net/unix flag of a listening socket (__SO_ACCEPTCON)
SO_ACCEPTCON = 0x10000


def listening_unix_socket(table: str, path: str) -> bool:
    """Whether /proc/net/unix (``table``) has a listening socket bound at ``path``
    (/var/run is /run on current systems, and systemd binds docker.sock under /run)."""
    names = {path, path.replace("/var/run/", "/run/", 1)}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7] in names and int(fields[3], 16) & SO_ACCEPTCON:
            return True
    return False
