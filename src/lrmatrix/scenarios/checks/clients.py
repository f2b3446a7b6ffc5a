"""What the probe's clients saw while a scenario's fault was in force (a FORWARD chain
flushed, dockerd frozen, containerd killed): per access path, from the probe's own samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrmatrix.evidence.records import ProbeEvidence, WindowEnded
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.actions.spans import FaultSpan
from lrmatrix.scenarios.observation import Seen

if TYPE_CHECKING:
    from lrmatrix.evidence.probe import Sample
    from lrmatrix.run.context import Context


def judged(samples: list[Sample]) -> str:
    """One word for a path's requests in the span: all answered, none, or some."""
    if not samples:
        return "not probed"
    ok = sum(1 for s in samples if s.ok)
    return "answered" if ok == len(samples) else "failed" if ok == 0 else "partly failed"


def probed_paths(measured: str, ctx: Context) -> str:
    """The measured value's parts for the paths this run probed: an ssh node's probe reaches
    the node path only, an engine node's all three."""
    probe = ctx.evidence.last(ProbeEvidence)
    paths = set(probe.records) if probe is not None else set()
    return ", ".join(part for part in measured.split(", ") if part.split(" ", 1)[0] in paths)


@registry.check("clients-during-fault", phase="teardown", narrow=probed_paths)
def clients_during_fault(ctx: Context) -> Seen:
    """What clients saw on each access path while the scenario's fault was in force."""
    span = ctx.evidence.last(FaultSpan)
    probe = ctx.evidence.last(ProbeEvidence)
    if span is None or probe is None:
        missing = "no fault span" if span is None else "no probe"
        return Seen(missing, "the scenario's action or the probe did not run")
    end = span.end
    if end is None:
        window = ctx.evidence.last(WindowEnded)
        end = window.start_at if window is not None else None
    if end is None:
        return Seen("no end", f"{span.what}: the daemon was never started again")
    parts, details = [], []
    for path, record in sorted(probe.records.items()):
        during = [s for s in record.samples if span.start <= s.t < end]
        word = judged(during)
        parts.append(f"{path} {word}")
        ok = sum(1 for s in during if s.ok)
        details.append(f"{path}: {ok}/{len(during)} answered")
    rel = ctx.clock.rel
    detail = f"{span.what} from t={rel(span.start):.2f}s to t={rel(end):.2f}s: " + ", ".join(details)
    return Seen(", ".join(parts), detail)
