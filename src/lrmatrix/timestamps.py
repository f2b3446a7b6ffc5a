"""One format for wall-clock times in results and on the cluster: ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float, timespec: str = "milliseconds") -> str:
    """``ts`` (seconds since the epoch) as ISO 8601 UTC; ``timespec="seconds"`` where
    Kubernetes' own timestamps (RFC 3339, whole seconds) are the neighbours."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec)
