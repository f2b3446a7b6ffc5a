"""Findings: measured behaviour worth a sentence in the report that is not the verdict.

The verdict is about the ``node`` path while the daemon is down; these call out what else
the probes saw (loopback through docker-proxy, blips after the restart), in words. A
sentence names a cause only when the run saw it: the DOCKER NAT chain missing while dockerd
started (``nat``), or docker-proxy processes that existed and were gone (``proxies``);
otherwise it states the fact alone.
"""

from __future__ import annotations

from typing import Any

from lrmatrix.evidence.probe import DownShare


def nat_cause(nat: dict[str, Any] | None, up_rel: float) -> str:
    """The NAT chain's part in a blip after the start, if the harness saw it missing."""
    spans = (nat or {}).get("missing") or []
    if not spans:
        return ""
    seen = ", ".join(f"+{a - up_rel:.2f}..+{b - up_rel:.2f}s" for a, b in spans)
    return (
        f" (the DOCKER NAT chain was seen missing at {seen} after the start command: dockerd re-creates it)"
    )


def proxy_cause(proxies: dict[str, list[int] | None] | None) -> str:
    """docker-proxy's part in a loopback failure, if one existed and was seen gone."""
    before = set((proxies or {}).get("before_stop") or [])
    later = [v for k, v in (proxies or {}).items() if k != "before_stop" and v is not None]
    if before and any(not before & set(v) for v in later):
        return f" (docker-proxy exits with dockerd: {len(before)} before the stop, seen gone after)"
    return ""


def down_words(p: dict[str, Any]) -> str:
    """ "failed 76 % of the time dockerd was down, from +4.8 s after the stop", from a path's
    summary; empty when it never failed then (or the result predates the figure)."""
    share, since = p.get("down_failed_share"), p.get("down_failed_from_s")
    if share is None or since is None:
        return ""
    return DownShare(share, since).words(since=" after the stop")


def findings(
    probes: dict[str, dict[str, Any]],
    down_rel: float | None,
    up_rel: float | None,
    change_rel: float | None = None,
    nat: dict[str, Any] | None = None,
    proxies: dict[str, list[int] | None] | None = None,
) -> list[str]:
    notes: list[str] = []
    if down_rel is None or up_rel is None:
        return notes
    for path, p in probes.items():
        if p.get("setup_error"):
            notes.append(f"{path} path: the probe could not run ({p['setup_error']})")
            continue
        share = down_words(p)
        if path != "node" and (p["failed_while_down"] or share):
            notes.append(
                f"{path} path fails while dockerd is down: {p['failed_while_down']}/"
                f"{p['sent_while_down']} requests failed" + (f", {share}" if share else "")
                + (proxy_cause(proxies) if path == "loopback" else "")
            )  # fmt: skip
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
            cause = nat_cause(nat, up_rel) if path == "node" else ""
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


def misdirected_responses(probes: dict[str, dict[str, Any]]) -> list[str]:
    """Responses on one container's address that another container served, with counts."""
    notes = []
    for path, p in probes.items():
        wrong = p.get("misdirected") or []
        if wrong:
            detail = ", ".join(
                f"{m['target']} (of {m['expected']}) answered as {m['served_by']} {m['count']} time(s) "
                f"from t={m['first_t']:.3f}s"
                for m in wrong
            )
            total = sum(m["count"] for m in wrong)
            notes.append(f"{path} path: {total} response(s) came from another container: {detail}")
    return notes
