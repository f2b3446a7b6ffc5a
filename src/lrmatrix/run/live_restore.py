"""The one place live-restore is applied to a node, and daemon.json restored after the run.

Apply: back daemon.json up, merge only ``live-restore`` into it (every other key kept, byte
for byte where nothing changes), then make the running daemon use it by a reload (SIGHUP):
live-restore is reloadable, and a restart while it is off stops every container (on a
Kubernetes node, the control plane's static pods too). Restart only when a reload did not
change the effective setting (``docker info``). Restore: the backup's bytes, once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Check, LiveRestoreApplied, Record
from lrmatrix.modules import daemon_json

if TYPE_CHECKING:
    from lrmatrix.run.context import Context

#: how long a reload may take to show in ``docker info`` before the run restarts instead
RELOAD_WAIT_S, RELOAD_POLL_S = 5.0, 0.1


def apply(ctx: Context) -> list[Record]:
    """daemon.json merged and the running daemon's setting made the cell's; what it took."""
    node, wanted = ctx.node, ctx.cell.live_restore
    path = node.daemon_json_path
    raw = node.read_file(path)
    backup = daemon_json.Backup(path, raw)
    original = daemon_json.parse(raw, path)
    # recorded before it is changed: an interrupt from here on restores the backup
    ctx.evidence.add(LiveRestoreApplied(backup, original, None, "pending"))
    if original.get(daemon_json.KEY) is not wanted:
        node.write_file(path, daemon_json.merge_live_restore(raw, wanted, path))
    effective = node.dockerd.effective_live_restore()
    if effective is wanted:
        return [LiveRestoreApplied(backup, original, effective, "already")]
    what = f"live-restore={str(wanted).lower()}"
    start = ctx.clock.now()
    node.reload_daemon()
    # dockerd applies a SIGHUP asynchronously
    applied = poll(
        lambda: node.dockerd.effective_live_restore() is wanted, RELOAD_WAIT_S, RELOAD_POLL_S, ctx.clock.waits
    )
    if applied:
        return [
            LiveRestoreApplied(backup, original, wanted, "reload"),
            ctx.timing("live_restore_reload_s", start),
            ctx.event("daemon reloaded", what),
        ]
    node.stop_daemon("SIGTERM")
    node.start_daemon()
    return [
        LiveRestoreApplied(backup, original, node.dockerd.effective_live_restore(), "restart"),
        ctx.timing("live_restore_restart_s", start),
        ctx.event("daemon restarted", f"{what}: a reload did not change it"),
    ]


def restore(ctx: Context) -> list[Record]:
    """daemon.json as it was before the run, byte for byte (absent if it was absent)."""
    applied = ctx.evidence.last(LiveRestoreApplied)
    if applied is None:
        return []
    node, backup = ctx.node, applied.backup
    if node.read_file(backup.path) != backup.original:
        if backup.original is None:  # the node had no daemon.json (Debian's default)
            node.run(["rm", "-f", backup.path])
        else:
            node.write_file(backup.path, backup.original)
    ok = node.read_file(backup.path) == backup.original
    detail = "restored" if ok else "daemon.json differs from the backup"
    return [Check("daemon_json_restored_byte_identical", "teardown", ok, detail)]
