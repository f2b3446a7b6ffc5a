"""The engine node's process scan by network namespace (the daemon watch's check every 100 ms of
an outage): it must find what the full scan finds, in that namespace only, and no zombie."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lrmatrix.deadline import poll
from lrmatrix.drivers.engine.node import _host_procs, _netns_procs


def _inode(pid: int) -> int:
    return Path(f"/proc/{pid}/ns/net").stat().st_ino


def test_a_namespace_of_one_process_yields_that_process_alone(in_own_netns):
    assert list(_netns_procs(_inode(in_own_netns.pid))) == [(in_own_netns.pid, "sleep 30")]


def test_it_agrees_with_the_full_scan_and_leaves_out_the_harness_and_zombies(in_own_netns):
    here = _inode(os.getpid())
    zombie = subprocess.Popen(["true"])
    assert poll(lambda: Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] == "Z", 10, 0.01)
    try:
        found = dict(_netns_procs(here))
        full = {p.pid: p.cmdline for p in _host_procs(with_cgroup=False) if p.netns == here}
        gone = set(found) ^ set(full)  # a process may start or end between the two scans
        assert {pid: found[pid] for pid in set(found) - gone} == {pid: full[pid] for pid in set(full) - gone}
        assert os.getpid() not in found and zombie.pid not in found and in_own_netns.pid not in found
    finally:
        zombie.wait()
