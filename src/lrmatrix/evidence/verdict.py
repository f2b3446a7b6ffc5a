"""Survive or outage, decided from the ``node`` access path's requests while the daemon was down.

Kept free of I/O so both outcomes (and the edge cases) are tested directly on samples. A
verdict rests on evidence: the daemon was seen gone for the whole window and its API answered
again after it (a new engine that refuses to start is never ``survive``, however well the
containers answered meanwhile), the probe kept running and covered the window
(``lrmatrix.evidence.coverage``), and every container that served before the stop serves again;
otherwise the answer is ``error`` or ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.evidence.coverage import THRESHOLD, coverage
from lrmatrix.evidence.probe import PathRecord, Sample, down_share, outage_windows, per_target
from lrmatrix.evidence.serving import not_serving_again


@dataclass(frozen=True)
class Disruption:
    """Monotonic times of the disruption; ``None`` where it did not happen (yet).

    "While down" is from the stop signal to the start command: a daemon that is stopping is
    already disrupting (without live-restore it stops the containers first)."""

    stop_at: float | None = None  # stop signal sent
    stopped_at: float | None = None  # the daemon is gone
    start_at: float | None = None  # start command
    api_at: float | None = None  # its API answers again
    change_at: float | None = None  # the config change: the end of "after the restart"
    came_back_at: float | None = None  # the daemon was seen up again before the start command
    came_back: str = ""  # what showed it (a dockerd process, a listener on the API socket)
    #: why the API never answered after the start (``api_at`` is None): the daemon's own reason
    not_back: str = ""
    origin: float = 0.0  # the run's start: reasons give times as seconds since it

    def while_down(self, samples: list[Sample]) -> list[Sample]:
        if self.stop_at is None or self.start_at is None:
            return []
        return [s for s in samples if self.stop_at <= s.t < self.start_at]


@dataclass(frozen=True)
class Verdict:
    """What the cell expected, what the run observed, and why; whether that passes is
    ``lrmatrix.results.outcome``'s to say."""

    expected: str
    observed: str
    reason: str


def answers_again(samples: list[Sample], d: Disruption) -> bool:
    """Every target (container) answers again after the restart: none has a run of failures
    that began before the config change and never ended. One that ends after the change
    still counts (the probe may be waiting out a timeout while the scenario moves on); one
    that begins after the change is the change's own failure, reported as a finding."""
    if d.start_at is None or not any(s.t >= d.start_at for s in samples):
        return False
    for group in per_target(samples).values():
        for window in outage_windows(group):
            if window.end is None and (d.change_at is None or window.start < d.change_at):
                return False
    return True


def decide(
    expected: str, record: PathRecord, d: Disruption, interval: float, threshold: float = THRESHOLD
) -> Verdict:
    """``survive``: no failed request while down; ``outage``: failures while down, and every
    container answers again after the restart; ``unrecovered``: one does not; ``error``: the
    daemon was not stopped and started, never answered again, or came back by itself;
    ``inconclusive``: the probe could not, did not keep, or did not cover the down interval,
    so nothing was proven."""
    if d.stop_at is None or d.start_at is None:
        return Verdict(expected, "error", "the daemon was never stopped and started again")
    if d.api_at is None:  # with live-restore the containers answer on: that is no survival
        why = d.not_back or "the daemon's API never answered after the start"
        return Verdict(expected, "error", f"{why}{seen_while_down(record, d)}")
    if d.stopped_at is None:
        return Verdict(
            expected,
            "inconclusive",
            f"the daemon was never seen gone between t={d.stop_at - d.origin:.3f}s and "
            f"t={d.start_at - d.origin:.3f}s: the disruption did not stop it, so nothing was tested",
        )
    if d.came_back_at is not None:
        what = f" ({d.came_back})" if d.came_back else ""
        return Verdict(
            expected, "error", f"the daemon came back at t={d.came_back_at - d.origin:.3f}s by itself{what}"
        )
    path = record.name
    if record.setup_error:
        return Verdict(expected, "inconclusive", f"the {path} probe could not run: {record.setup_error}")
    if record.stopped != "asked":
        how = record.stopped or "still running when asked to stop"
        return Verdict(expected, "inconclusive", f"the {path} probe stopped early ({how})")
    samples = record.samples
    during = d.while_down(samples)
    if not during:
        return Verdict(
            expected, "inconclusive", f"no request was sent on the {path} path while the daemon was down"
        )
    failed = sum(1 for s in during if not s.ok)
    lost = f"{failed}/{len(during)} failed while down and"
    gone = not_serving_again(samples, d.stop_at, d.start_at, d.change_at)
    if gone:
        return Verdict(
            expected,
            "unrecovered",
            f"{lost} {', '.join(gone)} never served again after the restart",
        )
    if not answers_again(samples, d):
        return Verdict(
            expected,
            "unrecovered",
            f"{lost} the {path} path did not answer again after the restart",
        )
    gaps = coverage(samples, record.targets, interval, d.stop_at, d.start_at).gaps(path, threshold)
    if gaps:
        return Verdict(
            expected,
            "inconclusive",
            f"probe coverage while down is below {threshold:.0%}: {'; '.join(gaps)}",
        )
    if failed == 0:
        return Verdict(expected, "survive", f"0/{len(during)} requests failed while down")
    share = down_share(samples, d.stop_at, d.start_at).words(since=" after the stop")
    return Verdict(
        expected,
        "outage",
        f"{failed}/{len(during)} requests failed while down ({share}); answering again after the restart",
    )


def seen_while_down(record: PathRecord, d: Disruption) -> str:
    """What the path saw while down, for a reason whose "after" never came: stated, not judged."""
    during = d.while_down(record.samples)
    if not during or d.stop_at is None or d.start_at is None:
        return ""
    failed = sum(1 for s in during if not s.ok)
    share = down_share(record.samples, d.stop_at, d.start_at).words(since=" after the stop")
    return f"; {failed}/{len(during)} requests failed on the {record.name} path while down" + (
        f" ({share})" if share else ""
    )


def with_caveat(v: Verdict, caveat: str | None) -> Verdict:
    """A node path that is not what its name claims (a loopback node address reaches the
    workload through docker-proxy) cannot attribute failures while down to the engine: an
    ``outage`` there is ``inconclusive``, and every reason says why. A ``survive`` stands:
    the requests were answered."""
    if caveat is None:
        return v
    observed = "inconclusive" if v.observed in ("outage", "unrecovered") else v.observed
    return Verdict(v.expected, observed, f"{caveat} ({v.reason})")
