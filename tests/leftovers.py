"""Everything an lrmatrix run can leave on this machine, listed for the tests that promise it
left nothing: network namespaces ``lrm*`` and their veths, slot records, dockerd, containerd,
containerd-shim and container processes (by cgroup, so an orphan whose shim is gone counts),
mounts and files under the run's state folder, cgroup folders, and the scratch folders of
image builds and engine fetches.

Scoped to one run, because the machine is shared (a parallel cell, another tox env): what
names the run's state folder, the slots its result names, namespaces that appeared during
the run and whose slot lock nobody holds, and scratch entries that appeared during the run.

    scope = leftovers.begin(state_dir, cache_dir)
    ... run the cell ...
    assert leftovers.left(scope, slots=[result["node"]["name"]]) == []
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lrmatrix import scratch
from lrmatrix.cache import DEFAULT as CACHE_DEFAULT
from lrmatrix.drivers.engine import net as engine_net

#: scratch entries, relative to a cache folder (and the system's temporary folder)
SCRATCH = ("engines/.fetch-*", "engines/debs/.debs-*", "images/.build-*", "images/*.partial")
TMP_SCRATCH = "lrmatrix-image-*"


@dataclass(frozen=True)
class Scope:
    """What one run may call its own, and what was on the machine before it."""

    state_dir: Path
    cache_dir: Path
    netns_before: frozenset[str] = field(default_factory=frozenset)
    scratch_before: frozenset[str] = field(default_factory=frozenset)


def begin(state_dir: Path, cache_dir: Path | None = None) -> Scope:
    cache = cache_dir or Path(os.environ.get("LRMATRIX_CACHE_DIR", CACHE_DEFAULT))
    return Scope(Path(state_dir), cache, frozenset(_netns()), frozenset(_scratch(cache)))


def left(scope: Scope, slots: list[str] | tuple[str, ...] = ()) -> list[str]:
    """What of the run is still here, one line each; [] when it left nothing."""
    found: list[str] = []
    # a slot the result names may be another live run's by now (CI runs engine-node envs side
    # by side, and the lowest free slot is claimed again at once): that one is not ours
    names = {s for s in slots if s and not _taken_by_another(scope, s)} | _slots_of(scope)
    for name in sorted(names):
        slot = engine_net.Slot(int(name.removeprefix(engine_net.PREFIX)))
        if Path(slot.netns_path).exists():
            found.append(f"network namespace {name}")
        if subprocess.run(["ip", "link", "show", slot.host_if], capture_output=True).returncode == 0:
            found.append(f"veth {slot.host_if}")
        if engine_net.slot_record(slot).exists():
            found.append(f"slot record {engine_net.slot_record(slot)}")
        found += [f"cgroup {d}" for d in engine_net.cgroup_dirs(slot)]
    found += _processes(scope, names)
    state = scope.state_dir
    if state.is_dir() and any(state.iterdir()):
        found.append(f"state folder content {sorted(p.name for p in state.iterdir())}")
    found += [f"mount {m}" for m in mounts_under(state)]
    new = _scratch(scope.cache_dir) - scope.scratch_before
    found += [f"scratch {p}" for p in sorted(new) if not _made_by_another(p)]
    return found


def _made_by_another(entry: str) -> bool:
    """A scratch folder whose maker still runs: the run under test has ended when this is
    asked, so a live maker is another run's build or fetch in the shared cache (a parallel env,
    another cell building an image of its own), not this run's leftover."""
    name = Path(entry).name
    prefixes = {Path(p).name.split("*")[0] for p in (*SCRATCH, TMP_SCRATCH)}
    return any(scratch.owner_alive(name, prefix) for prefix in prefixes if prefix)


def _netns() -> set[str]:
    folder = engine_net.NETNS_DIR
    return {e.name for e in folder.iterdir() if _is_slot(e.name)} if folder.is_dir() else set()


def _is_slot(name: str) -> bool:
    return name.startswith(engine_net.PREFIX) and name.removeprefix(engine_net.PREFIX).isdigit()


def _record_root(name: str) -> Path | None:
    """The state folder a slot's record names, if it has a readable one."""
    try:
        root = json.loads((engine_net.LOCK_DIR / f"{name}.json").read_text()).get("state_root")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(root) if root else None


def _taken_by_another(scope: Scope, name: str) -> bool:
    """A live run holds the slot's lock and its record names another state folder."""
    lock = engine_net.SlotLock(engine_net.Slot(int(name.removeprefix(engine_net.PREFIX))))
    if lock.try_acquire():
        lock.release()
        return False
    return _record_root(name) != scope.state_dir


def _slots_of(scope: Scope) -> set[str]:
    """Slots whose record names the run's state folder, and namespaces that appeared since
    ``begin`` that no live run holds (a live run holds its slot's lock)."""
    mine = set()
    for record in (
        engine_net.LOCK_DIR.glob(f"{engine_net.PREFIX}*.json") if engine_net.LOCK_DIR.is_dir() else ()
    ):
        name = record.name.removesuffix(".json")
        if _record_root(name) == scope.state_dir:
            mine.add(name)
    for name in _netns() - scope.netns_before:
        lock = engine_net.SlotLock(engine_net.Slot(int(name.removeprefix(engine_net.PREFIX))))
        if lock.try_acquire():
            lock.release()
            mine.add(name)
    return {n for n in mine if _is_slot(n)}


def _processes(scope: Scope, slots: set[str]) -> list[str]:
    """Processes naming the state folder (dockerd, containerd, shims), and any process in a
    slot's container cgroup (the workload, also orphaned)."""
    cgroups = {f"lrmatrix-{s}" for s in slots}
    me = os.getpid()
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.pid == me or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(p.info["cmdline"] or ())
        parts = {part for path in cgroups_of(p.pid) for part in path.split("/")}
        if f"{scope.state_dir}/" in cmdline or parts & cgroups:
            found.append(f"process {p.pid} ({cmdline[:80]})")
    return found


def cgroups_of(pid: int) -> list[str]:
    """The cgroup paths of a process psutil found (one per hierarchy); [] once it is gone, as a
    process found a moment ago may be (psutil reads no cgroups)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:  # gone (ENOENT, ESRCH) between being listed and being read
        return []
    return [line.split(":", 2)[-1] for line in lines]


def naming(text: str) -> list[str]:
    """Live processes whose command line contains ``text`` (a run's state folder), one line each;
    psutil skips the ones that end while it looks."""
    me = os.getpid()
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(p.info["cmdline"] or ())
        if p.pid != me and p.info["status"] != psutil.STATUS_ZOMBIE and text in cmdline:
            found.append(f"process {p.pid} ({cmdline[:80]})")
    return found


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below ``folder``."""
    return [
        m.mountpoint
        for m in psutil.disk_partitions(all=True)
        if m.mountpoint == str(folder) or m.mountpoint.startswith(f"{folder}/")
    ]


def _scratch(cache_dir: Path) -> set[str]:
    entries = {str(p) for pattern in SCRATCH for p in cache_dir.glob(pattern)}
    return entries | {str(p) for p in Path("/tmp").glob(TMP_SCRATCH)}
