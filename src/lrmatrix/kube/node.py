"""The node's Ready condition over time: what the kubelet reports while the runtime is down.

Sampled on the runner's clock; only changes of status, message or the node's taints are kept
(plus the first sample), each with the moment it was seen and the API's own
lastTransitionTime, so a result shows both when the kubelet said it and when the harness
noticed, and when the node lifecycle controller tainted the node for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lrmatrix.deadline import poll
from lrmatrix.errors import NodeError
from lrmatrix.kube.api import Kube
from lrmatrix.timestamps import iso


@dataclass(frozen=True)
class Transition:
    t: float
    seen_at: str
    status: str
    reason: str
    message: str
    since: str
    #: the node's taints as ``key:effect``, e.g. node.kubernetes.io/not-ready:NoSchedule
    taints: tuple[str, ...] = ()


class NodeTimeline:
    def __init__(self, kube: Kube, poll_s: float, t0: float | None = None) -> None:
        self.kube = kube
        self.poll_s = poll_s
        self.t0 = kube.runner.monotonic() if t0 is None else t0
        self.name = ""
        self.transitions: list[Transition] = []
        self.samples = 0

    def discover(self) -> str:
        """The single node of the cluster (minikube: named after the profile)."""
        nodes = self.kube.core.list_node().items
        if len(nodes) != 1:
            raise NodeError(f"expected a single-node cluster, found {len(nodes)} nodes")
        self.name = nodes[0].metadata.name
        return self.name

    def poll(self) -> str:
        """Read the Ready condition once; record it if it changed. ``True``/``False``/``Unknown``."""
        if not self.name:
            self.discover()
        node = self.kube.core.read_node(self.name)
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        status = ready.status if ready else "Unknown"
        message = (ready.message or "") if ready else "no Ready condition"
        taints = tuple(sorted(f"{t.key}:{t.effect}" for t in (node.spec.taints if node.spec else None) or []))
        self.samples += 1
        # a new message counts too: the kubelet's NotReady reason changes form while it lasts
        last = self.transitions[-1] if self.transitions else None
        if last is None or (last.status, last.message, last.taints) != (status, message, taints):
            since = ready.last_transition_time if ready else None
            self.transitions.append(
                Transition(
                    t=round(self.kube.runner.monotonic() - self.t0, 3),
                    seen_at=iso(self.kube.runner.wall(), "seconds"),
                    status=status,
                    reason=(ready.reason or "") if ready else "",
                    message=message,
                    since=_text(since),
                    taints=taints,
                )
            )
        return status

    def watch(self, until: float) -> None:
        """Sample until the runner's clock reaches ``until`` (e.g. the end of the outage window)."""

        def sample() -> bool:
            self.poll()
            return False  # never an answer: sampling goes on to the end

        runner = self.kube.runner
        poll(sample, until - runner.monotonic(), self.poll_s, runner.clock)

    def wait_for(self, status: str, timeout: float) -> bool:
        """Sample until the node reports ``status``; False if it did not within ``timeout``."""
        return poll(lambda: self.poll() == status, timeout, self.poll_s, self.kube.runner.clock)

    @property
    def went_not_ready(self) -> bool:
        return any(tr.status != "True" for tr in self.transitions)

    def saw_taint(self, taint: str) -> bool:
        """Whether any sample found ``taint`` (``key:effect``) on the node."""
        return any(taint in tr.taints for tr in self.transitions)

    def first(self, status: str) -> Transition | None:
        return next((tr for tr in self.transitions if tr.status == status), None)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(tr) for tr in self.transitions]


def _text(value: Any) -> str:
    """lastTransitionTime arrives as a datetime from the client; keep it as RFC 3339 text."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(value, "strftime") else str(value)
