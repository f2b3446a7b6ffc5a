"""Named volumes in use across the restart (scenario ``volumes-in-use``): a volume, and a
container that writes a line into it and keeps running, so the daemon must know after the
restart that the volume is in use and where its data is (moby#41686, #44422, #46253)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry, sidecar
from lrmatrix.workload.containers import LABEL

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context

#: where the volume is mounted in its containers, and the file each start of its user appends
#: a fresh random line to (so a line a restarted user wrote again is not taken for the old one)
MOUNT, FILE = "/lrm-vol", "written-before-the-restart"
OPTION = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


@dataclass(frozen=True)
class VolumeUser(Record):
    """A volume the scenario made and the running container that wrote ``line`` into it."""

    volume: str
    container: str
    options: str  # "type=tmpfs,device=tmpfs", "" for a plain local volume
    restart: str
    line: str  # the file's first line, written before the disruption


@registry.action
@dataclass(frozen=True)
class UseVolume(Action):
    """A local volume (``options``: its ``-o`` mount options, e.g. a tmpfs, the case the local
    driver mounts itself) and a container with restart policy ``restart`` that writes a line
    into it and keeps running."""

    name: ClassVar[str] = "use-volume"
    volume: str = "lrm-vol"
    options: dict[str, str] = field(default_factory=dict)
    restart: str = "no"

    def __post_init__(self) -> None:
        sidecar.named("volume", self.volume)
        if self.restart not in sidecar.POLICIES:
            raise ValueError(f"restart {self.restart!r} is none of {', '.join(sidecar.POLICIES)}")
        for key, value in self.options.items():
            if not OPTION.match(key) or not isinstance(value, str) or "," in value:
                raise ValueError(f"option {key}={value!r}: a lowercase key and a string without a comma")

    @property
    def opts(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))

    def run(self, ctx: Context) -> list[Record]:
        node = ctx.node
        opts = [arg for k, v in sorted(self.options.items()) for arg in ("-o", f"{k}={v}")]
        node.dockerd.cli_ok("volume", "create", "--label", f"{LABEL}={ctx.cell.name}", *opts, self.volume)
        container = f"{self.volume}-user"
        script = f"cat /proc/sys/kernel/random/uuid >> {MOUNT}/{FILE}; exec {' '.join(sidecar.SLEEP)}"
        sidecar.start(
            ctx,
            container,
            "--restart",
            self.restart,
            "-v",
            f"{self.volume}:{MOUNT}",
            argv=(sidecar.BUSYBOX, "sh", "-c", script),
        )

        def written() -> str:
            read = node.dockerd.cli("exec", container, sidecar.BUSYBOX, "head", "-n1", f"{MOUNT}/{FILE}")
            return read.stdout.strip() if read.ok else ""

        line = poll(written, timeout=10, interval=0.2)
        if not line:
            raise NodeError(f"{container} did not write {MOUNT}/{FILE} within 10 s")
        return [
            VolumeUser(self.volume, container, self.opts, self.restart, line),
            ctx.event("volume in use", f"{self.volume} ({self.opts or 'plain'}) by {container}"),
        ]

    def describe(self, cell: Cell) -> str:
        kind = f"with -o {self.opts}" if self.options else "plain local"
        return f"volume {self.volume} ({kind}) used by a container (restart {self.restart}) that wrote in it"


@registry.action
@dataclass(frozen=True)
class DropVolumes(Action):
    """Teardown: the volumes ``use-volume`` made, removed once their containers are (an ssh
    node keeps its volumes; an engine node is removed whole)."""

    name: ClassVar[str] = "drop-volumes"

    def run(self, ctx: Context) -> list[Record]:
        names = [u.volume for u in ctx.evidence.all(VolumeUser)]
        for name in names:
            ctx.node.dockerd.cli("volume", "rm", "-f", name)
        return [ctx.event("volumes removed", ", ".join(names) or "none")]

    def describe(self, cell: Cell) -> str:
        return "remove the scenario's volumes (after the teardown removed their containers)"
