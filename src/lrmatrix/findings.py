"""Findings: measured behaviour worth a sentence in the report that is not the verdict.

The verdict is about the ``node`` path while the daemon is down; these call out what else
the probes saw (loopback through docker-proxy, blips after the restart), in words.
"""

from __future__ import annotations

from typing import Any


def findings(
    probes: dict[str, dict[str, Any]],
    down_rel: float | None,
    up_rel: float | None,
    change_rel: float | None = None,
) -> list[str]:
    notes: list[str] = []
    if down_rel is None or up_rel is None:
        return notes
    for path, p in probes.items():
        if p.get("setup_error"):
            notes.append(f"{path} path: the probe could not run ({p['setup_error']})")
            continue
        if path != "node" and p["failed_while_down"]:
            notes.append(
                f"{path} path fails while dockerd is down: {p['failed_while_down']}/"
                f"{p['sent_while_down']} requests failed"
                + (" (docker-proxy exits with dockerd)" if path == "loopback" else "")
            )
        elif path != "node" and p["sent_while_down"]:
            notes.append(f"{path} path kept answering while dockerd was down")
        # after the restart and before the config change, which may fail for reasons of its own
        late = [w for w in p["windows"] if w[0] >= up_rel and (change_rel is None or w[0] < change_rel)]
        changed = [w for w in p["windows"] if change_rel is not None and w[0] >= change_rel]
        if changed:
            notes.append(f"{path} path failed {len(changed)} time(s) after the config change")
        if late and late[-1][1] is None:
            notes.append(f"{path} path stopped answering {late[-1][0] - up_rel:.3f}s after dockerd started "
                         "and did not answer again")  # fmt: skip
            late = late[:-1]
        if late:
            longest = max(w[1] - w[0] for w in late)
            cause = (
                " (dockerd re-creates its DOCKER NAT chain on start; bench/restart_blip.py shows it)"
                if path == "node"
                else ""
            )
            notes.append(
                f"{path} path failed again after dockerd started: {len(late)} window(s), longest "
                f"{longest * 1000:.0f} ms{cause}"
            )
        early = [w for w in p["windows"] if w[1] is not None and w[1] <= down_rel]
        if early:
            notes.append(f"{path} path failed {len(early)} time(s) before the daemon was stopped")
    return notes


def address_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """Containers that came back with another IP: a client addressing them by IP (the pod
    path) then reaches a different container, or none."""
    was = {c["name"]: c.get("ip", "") for c in before}
    moved = [
        f"{c['name']} {was[c['name']]} -> {c['ip']}"
        for c in after
        if was.get(c["name"]) and c.get("ip") and c["ip"] != was[c["name"]]
    ]
    return [f"container IPs changed across the restart: {', '.join(moved)}"] if moved else []
