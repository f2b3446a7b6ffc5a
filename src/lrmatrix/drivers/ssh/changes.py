"""What a run changes on an ssh node, kept on the node itself, and how it is undone.

Before the first change the driver copies daemon.json on the node (``<daemon.json>.lrmatrix-
backup``, or an ``.lrmatrix-absent`` marker when there was none) and writes what the run will
change to ``<work dir>/changes.json``; ``undo`` puts back what those files say. So a human, or
``lrmatrix recover`` after the harness died, can put the node back from the node alone.

daemon.json is restored once per teardown: a run restores it itself (``run/live_restore``,
before the node's ``destroy``), so the undo of the run's own teardown only checks it; it puts
the backup back only when it undoes a run whose harness died (``recover``). A check that finds
the file changed leaves the backup and the record on the node for ``recover``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lrmatrix.deadline import poll
from lrmatrix.errors import LrmatrixError, NodeError
from lrmatrix.evidence.other_containers import OtherContainers, bring_back
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.modules.procfs import parse_stat
from lrmatrix.workload.containers import LABEL, NAME_PREFIX

if TYPE_CHECKING:
    from lrmatrix.command import CmdResult
    from lrmatrix.drivers.ssh.service_manager import ServiceManager
    from lrmatrix.matrix.model import Cell
    from lrmatrix.modules.dockerd import Dockerd

WORK_ROOT = "/var/lib/lrmatrix"
BACKUP_SUFFIX = ".lrmatrix-backup"
ABSENT_SUFFIX = ".lrmatrix-absent"
ABSENT_NOTE = b"There was no daemon.json before lrmatrix ran: delete daemon.json and this file to restore.\n"
SCHEMA = "lrmatrix.ssh-changes/1"


class ChangedNode(Protocol):
    """What the record needs of its node (the ssh driver's): files, commands, the daemon."""

    cell: Cell

    @property
    def label(self) -> str: ...

    @property
    def daemon_json_path(self) -> str: ...

    @property
    def work_dir(self) -> str: ...

    @property
    def dockerd(self) -> Dockerd: ...

    def run(self, argv: list[str], timeout: float = 60.0) -> CmdResult: ...

    def read_file(self, path: str) -> bytes | None: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def exists(self, path: str) -> bool: ...

    def service_manager(self) -> ServiceManager: ...

    def shell(self, command: str, timeout: float) -> None: ...

    def start_daemon(self) -> None: ...

    def stop_daemon(self, signal_name: str) -> None: ...

    def reload_daemon(self) -> None: ...

    def daemon_pid(self) -> int | None: ...


class ChangeRecord:
    """This run's changes to one node: the backup, the record on the node, and their undo."""

    def __init__(self, node: ChangedNode) -> None:
        self.node = node
        #: daemon.json before the run (``None``: there was none), once read
        self.original: bytes | None = None
        self.original_read = False
        self.created = False
        self.created_root = False
        self.imported: list[str] = []
        #: the crash variant's hold on the init system is in place
        self.held = False
        #: the node's own containers, recorded before anything changes
        self.others: OtherContainers | None = None
        self.teardown_restarted = False
        #: daemon.json was not as before in the run's own teardown: the backup and the record
        #: stay on the node, and the daemon is left as it is, for ``recover``
        self.kept = False

    # --- where things are ----------------------------------------------------------------
    @property
    def backup_path(self) -> str:
        return self.node.daemon_json_path + BACKUP_SUFFIX

    @property
    def absent_marker(self) -> str:
        return self.node.daemon_json_path + ABSENT_SUFFIX

    @property
    def path(self) -> str:
        return f"{self.node.work_dir}/changes.json"

    @property
    def own_label(self) -> dict[str, str]:
        """The label of this cell's containers (what is not the node owner's)."""
        return {LABEL: self.node.cell.name}

    def left_behind(self) -> str | None:
        """A backup or marker of a run that did not finish: this run must not start over it."""
        return next((p for p in (self.backup_path, self.absent_marker) if self.node.exists(p)), None)

    # --- the record ----------------------------------------------------------------------
    def begin(self) -> None:
        """Back daemon.json up on the node, then record what the run will change; nothing
        else has changed yet."""
        node = self.node
        self.original = node.read_file(node.daemon_json_path)
        self.original_read = True
        if self.original is None:
            node.write_file(self.absent_marker, ABSENT_NOTE)
        else:
            self._must(["cp", "-p", node.daemon_json_path, self.backup_path])
            if node.read_file(self.backup_path) != self.original:
                raise NodeError(f"the backup {self.backup_path} on {node.label} differs from daemon.json")
        self.created = True
        self.created_root = not node.exists(WORK_ROOT)
        self._must(["mkdir", "-p", node.work_dir])
        self.write()

    def as_dict(self) -> dict[str, Any]:
        """What this run changes on the node and how to undo it by hand."""
        node, cell = self.node, self.node.cell
        manager = node.service_manager()
        path, start = node.daemon_json_path, manager.start
        running = [c.name for c in self.others.before if c.running] if self.others is not None else []
        observed = [c.name for c in self.others.observed] if self.others is not None else []
        restore = [f"cp -p {self.backup_path} {path}"] if self.original is not None else [f"rm -f {path}"]
        return {
            "schema": SCHEMA,
            "cell": cell.name,
            "by": f"lrmatrix pid {os.getpid()} on {platform.node()}",
            "harness": {
                "host": platform.node(),
                "pid": os.getpid(),
                "start_ticks": _start_ticks(os.getpid()),
            },
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "service_manager": manager.name,
            "daemon_json": path,
            "backup": self.backup_path if self.original is not None else None,
            "absent_marker": self.absent_marker if self.original is None else None,
            "created_work_root": self.created_root,
            "imported_images": self.imported,
            "held_down": self.held,
            # the node's own containers before the run: the teardown (or recover) starts again
            # those that were running and are not
            "other_containers": self.others.to_record() if self.others is not None else None,
            "will_change": [
                f"{path}: only live-restore is set (to {str(cell.live_restore).lower()})",
                f"dockerd is stopped and started with `{manager.stop}` / `{start}`",
                *(
                    [
                        f"the crash variant runs `{manager.hold}` before the kill and `{manager.release}` "
                        "before the start: the init system must not restart dockerd within the window"
                    ]
                    if manager.hold and cell.stop_signal != "SIGTERM"
                    else []
                ),
                *(
                    [
                        f"the upgrade commands run on the node, one after another, and are NOT undone: "
                        f"{'; '.join(cell.upgrade_command)}",
                        f"{node.work_dir}/debs holds the staged .debs, {node.work_dir}/upgrade their output",
                    ]
                    if cell.upgrade_command
                    else []
                ),
                *(
                    [
                        f"containers {NAME_PREFIX}* labelled {LABEL}={cell.name} are created and removed",
                        "the workload image is imported if missing and removed afterwards",
                    ]
                    if not observed
                    else [f"observed, never started, stopped or removed: {', '.join(observed)}"]
                ),
                f"{node.work_dir} holds the workload's files and this record",
                *(
                    [
                        "the node's own containers that are running now are started again (docker start) "
                        f"if they are not running after the run: {', '.join(running)}"
                    ]
                    if running
                    else []
                ),
            ],
            "undo": [
                *([manager.release] if self.held else []),
                *restore,
                f"rm -f {self.backup_path} {self.absent_marker}",
                f"docker rm -f $(docker ps -aq --filter label={LABEL}={cell.name})",
                f"{start}; if live-restore differs from what daemon.json says (absent: off), reload "
                "dockerd with the key named in daemon.json, then give the file back (a restart would stop "
                "the containers)",
                *([f"docker start {' '.join(running)}"] if running else []),
                f"rm -rf {node.work_dir}",
            ],
        }

    def write(self) -> None:
        self.node.write_file(self.path, (json.dumps(self.as_dict(), indent=2) + "\n").encode())

    def read(self) -> dict[str, Any]:
        """The record on the node, ``{}`` if there is none (or it cannot be read as one)."""
        raw = self.node.read_file(self.path)
        try:
            return dict(json.loads(raw)) if raw else {}
        except ValueError:
            return {}

    def live_harness(self) -> str | None:
        """Who still runs this cell's run, if it is a harness alive on this machine: recover
        must not undo a run in progress. (A harness on another machine cannot be checked from
        here; the record names it, and recover says whose run it undoes.)"""
        record = self.read()
        harness = record.get("harness") or {}
        if harness.get("host") != platform.node() or not isinstance(harness.get("pid"), int):
            return None
        alive = _start_ticks(harness["pid"])
        return record.get("by") if alive is not None and alive == harness.get("start_ticks") else None

    def recorded_by(self) -> str:
        return str(self.read().get("by") or "an unknown harness")

    # --- the undo ------------------------------------------------------------------------
    def undo(self) -> list[str]:
        """Undo what the on-node backup and record say, also after a crash; safe to call twice.
        Every step is tried whatever the one before did; what went wrong is returned. The run's
        own teardown (``begin`` was this object's) checks daemon.json, which the run restored;
        the undo of a run whose harness died (``recover``) restores it from the backup."""
        problems: list[str] = []
        try:
            record = self.read()
            if not (self.created or record or self.left_behind()):
                self._bring_back_others(record)  # only a look: nothing was changed
                return problems
            # the file first: a daemon that cannot start with the cell's config starts with it
            daemon_json = self._check_daemon_json if self.created else self._restore_daemon_json
            steps = (
                lambda: self.release(record),
                daemon_json,
                self._ensure_running,
                self._remove_workload,
                lambda: self._remove_images(record),
                self._reconcile_live_restore,
                self._drop_backup,
                # after the last restart of dockerd, before the record goes with the work dir
                lambda: self._bring_back_others(record),
                lambda: self._remove_work_dir(record),
            )
            for step in steps:
                try:
                    step()
                except LrmatrixError as exc:
                    problems.append(str(exc))
            self.created = False
        except LrmatrixError as exc:
            problems.append(str(exc))
        return problems

    def release(self, record: dict[str, Any]) -> None:
        """Undo the crash variant's hold (a runtime mask), also for a run that was killed."""
        manager = self.node.service_manager()
        if manager.release and (self.held or record.get("held_down")):
            self.node.shell(manager.release, 30)
            self.held = False
            self.write()

    def residue(self) -> list[str]:
        """What of the record is still on the node: its files, a daemon.json unlike before."""
        node = self.node
        left = [
            f"{p} on {node.label}"
            for p in (self.backup_path, self.absent_marker, node.work_dir)
            if node.exists(p)
        ]
        if self.original_read and node.read_file(node.daemon_json_path) != self.original:
            left.append(f"{node.daemon_json_path} on {node.label} differs from before the run")
        return left

    def _must(self, argv: list[str]) -> None:
        res = self.node.run(argv)
        if not res.ok:
            raise NodeError(f"`{shlex.join(argv)}` failed on {self.node.label}: {res.one_line()}")

    def _ensure_running(self) -> None:
        if self.node.daemon_pid() is None:
            self.node.start_daemon()

    def _remove_workload(self) -> None:
        dockerd = self.node.dockerd
        ids = dockerd.cli_ok("ps", "-aq", "--filter", f"label={LABEL}={self.node.cell.name}").split()
        if ids:
            dockerd.cli_ok("rm", "-f", *ids)

    def _remove_images(self, record: dict[str, Any]) -> None:
        for tag in dict.fromkeys([*self.imported, *record.get("imported_images", [])]):
            self.node.dockerd.cli("image", "rm", tag)
        self.imported = []

    def _check_daemon_json(self) -> None:
        """daemon.json as the run's own restore left it must be the original, byte for byte;
        one that is not is left as it is, with the backup and the record, for ``recover``."""
        node = self.node
        if node.read_file(node.daemon_json_path) == self.original:
            return
        self.kept = True
        backup = self.backup_path if self.original is not None else self.absent_marker
        recover = f"lrmatrix recover --node ssh://{node.label} --allow-disruption"
        raise NodeError(
            f"{node.daemon_json_path} on {node.label} differs from before the run (the run's restore "
            f"did not finish); {backup} and {self.path} stay: `{recover}` puts it back"
        )

    def _restore_daemon_json(self) -> None:
        """daemon.json as it was, from the node's backup (or the marker: none). The backup stays
        until dockerd runs with the file's setting (``_drop_backup``): a run killed in between
        is still undone by ``recover``."""
        backup = self.node.read_file(self.backup_path)
        if backup is not None:
            self._give_back(backup)
            self.original, self.original_read = backup, True
        elif self.node.exists(self.absent_marker):
            self._give_back(None)
            self.original, self.original_read = None, True

    def _give_back(self, original: bytes | None) -> None:
        node, path = self.node, self.node.daemon_json_path
        if original is None:
            self._must(["rm", "-f", path])
            return
        if node.read_file(path) != original:
            node.write_file(path, original)
        if node.read_file(path) != original:
            raise NodeError(f"{path} on {node.label} still differs from {self.backup_path}")

    def _drop_backup(self) -> None:
        """The backup and the marker go once daemon.json is the original again."""
        if self.original_read and self.node.read_file(self.node.daemon_json_path) == self.original:
            self._must(["rm", "-f", self.backup_path, self.absent_marker])

    def _reconcile_live_restore(self) -> None:
        """The daemon must run with the restored file's setting: reload (SIGHUP), else restart.
        A restart stops every container without live-restore (the node's own too), so it is
        only the fallback."""
        if not self.original_read or self.kept:
            return
        node = self.node
        config = daemon_config.parse(self.original, node.daemon_json_path)
        want = bool(config.get(daemon_config.KEY, False))
        if node.dockerd.effective_live_restore() == want:
            return
        if node.daemon_pid() is not None and self._reload_to(want, daemon_config.KEY in config):
            return
        if self.others is not None and self.others.observed:  # a restart would stop them
            raise NodeError(
                f"dockerd on {node.label} still runs with the cell's live-restore: a reload did not give the "
                f"node's setting ({want}) back, and observe mode never restarts dockerd under the observed "
                "containers; restart it yourself when they may stop"
            )
        self.teardown_restarted = True
        node.stop_daemon("SIGTERM")
        node.start_daemon()
        if node.dockerd.effective_live_restore() != want:
            raise NodeError(f"dockerd on {node.label} does not run with live-restore={want} after restart")

    def _reload_to(self, want: bool, named: bool) -> bool:
        """Whether a reload gave dockerd live-restore=``want``. A reload applies only the keys
        daemon.json names (a file without the key leaves the setting as it is), so a file that
        does not name it names it for the reload and is given back right after: the daemon then
        runs as a start with the original file would have it."""
        node = self.node
        if not named:
            node.write_file(node.daemon_json_path, daemon_config.merge_live_restore(self.original, want))
        try:
            node.reload_daemon()
            return bool(poll(lambda: node.dockerd.effective_live_restore() == want, 5, 0.1))
        finally:
            if not named:
                self._give_back(self.original)

    def _bring_back_others(self, record: dict[str, Any]) -> None:
        """The node's own containers that were running before the run and are not now are
        started again (also by ``recover``, from the record). The outcome stays on the record
        (``other_containers_as_before``), not in ``residue``: it is the node owner's work,
        not something lrmatrix left."""
        others = self.others or OtherContainers.from_record(record.get("other_containers"))
        if others is None or others.final is not None:
            return
        self.others = others
        others.teardown_restarted = self.teardown_restarted
        try:
            bring_back(self.node.dockerd, others, self.own_label)
        except LrmatrixError as exc:
            others.error = str(exc)

    def _remove_work_dir(self, record: dict[str, Any]) -> None:
        if self.kept:  # the record stays: recover reads it
            return
        self._must(["rm", "-rf", self.node.work_dir])
        if record.get("created_work_root") or self.created_root:
            self.node.run(["rmdir", WORK_ROOT])  # only if empty: another cell may still use it


def leftover_runs(run: ChangedNode) -> list[str]:
    """Cells whose run on this node left a record (the harness died before its teardown)."""
    res = run.run(["sh", "-c", f"ls -1 {shlex.quote(WORK_ROOT)}/*/changes.json 2>/dev/null"])
    return sorted(Path(line).parent.name for line in res.stdout.split())


def _start_ticks(pid: int) -> int | None:
    """A local process's start time (clock ticks since boot): with the pid, who it is."""
    try:
        stat = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None
    return stat.start_ticks if stat is not None else None
