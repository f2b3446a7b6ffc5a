"""Volumes in use after the restart: the daemon must still refuse to remove a volume a
restored container uses (moby#41686, #44422: references and mount counts restored) and a new
container must see the data of a volume the local driver mounted with options (#46253: 20.10
unmounted it at start). ``volume-data`` reads first: ``volume-in-use`` removes a volume the
daemon wrongly thinks unused, which is the failure it reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.scenarios import registry, sidecar
from lrmatrix.scenarios.actions.volumes import FILE, MOUNT, VolumeUser
from lrmatrix.scenarios.observation import Seen
from lrmatrix.workload.containers import LABEL

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.run.context import Context


@registry.check("volume-data", phase="after")
def volume_data(ctx: Context) -> Seen:
    """A new container mounting each volume reads the line written before the restart
    ("seen"; "lost": no such file; "rewritten": the file holds only lines written since)."""
    users = ctx.evidence.all(VolumeUser)
    if not users:
        return Seen("no volume", "no use-volume action ran")
    seen, detail = {}, []
    for user in users:
        read = ctx.node.dockerd.cli(
            "run", "--rm", "--label", f"{LABEL}={ctx.cell.name}", "-v", f"{user.volume}:{MOUNT}",
            sidecar.image_of(ctx), sidecar.BUSYBOX, "head", "-n1", f"{MOUNT}/{FILE}",
        )  # fmt: skip
        if read.ok and read.stdout.strip() == user.line:
            seen[user.volume] = "seen"
        elif "No such file" in read.stderr:
            seen[user.volume] = "lost"
        else:
            seen[user.volume] = "rewritten" if read.ok else "unreadable"
        said = (read.stdout.strip() or read.stderr.strip())[:120]
        detail.append(f"{user.volume}: new container read {said!r}; {mounted(ctx.node, user.volume)}")
    return Seen(sidecar.per_item(seen), "; ".join(detail))


@registry.check("volume-in-use", phase="after")
def volume_in_use(ctx: Context) -> Seen:
    """``docker volume rm`` of each volume a running container uses ("refused": volume is in
    use; "removed": the daemon lost the reference)."""
    users = ctx.evidence.all(VolumeUser)
    if not users:
        return Seen("no volume", "no use-volume action ran")
    seen, detail = {}, []
    for user in users:
        rm = ctx.node.dockerd.cli("volume", "rm", user.volume)
        if rm.ok:
            seen[user.volume] = "removed"
        elif "volume is in use" in rm.stderr:
            seen[user.volume] = "refused"
        else:
            seen[user.volume] = "error"
        detail.append(f"{user.volume}: {(rm.stderr.strip() or 'removed')[:160]}")
    return Seen(sidecar.per_item(seen), "; ".join(detail))


def mounted(node: Node, volume: str) -> str:
    """Whether the volume's data folder is a mount point in the daemon's mount namespace (the
    host's: the local driver mounts a volume with options there)."""
    where = node.dockerd.cli("volume", "inspect", "-f", "{{.Mountpoint}}", volume)
    if not where.ok:
        return "no such volume"
    info = (node.read_file("/proc/self/mountinfo") or b"").decode(errors="replace")
    path = where.stdout.strip()
    kinds = [line.split(" - ")[1].split()[0] for line in info.splitlines() if f" {path} " in line]
    return f"{path} mounted ({', '.join(kinds)})" if kinds else f"{path} not a mount"
