"""A pod created while the runtime is down (the API up: live-restore), then run once the
runtime is back (``nginx -v`` inside).

Three outcomes show the outage, and which one happened is recorded: the kubelet still syncs
pods and cri-dockerd fails the sandbox (a FailedCreatePodSandBox event, ContainerCreating); the
pod was scheduled but the kubelet's runtime check already failed and its sync loop skips pod
work (no container status and no event at all); or the node was already NotReady and tainted
``not-ready:NoSchedule``, so the pod was never scheduled (its PodScheduled condition is False).
The last two look alike from the pod's phase: PodScheduled tells them apart. A pod that runs
during the outage means the runtime was not down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrmatrix.deadline import poll
from lrmatrix.kube import upstream
from lrmatrix.kube.api import Kube
from lrmatrix.kube.workload import PodState

NAME = "lrm-outage-probe"
SANDBOX_FAILED = "FailedCreatePodSandBox"
#: the outcomes that show the runtime down (the check of the outage phase accepts these)
SHOWS_OUTAGE = ("sandbox-failed", "not-synced", "unscheduled")


@dataclass(frozen=True)
class Sighting:
    """The probe pod as seen once: its state and the sandbox-failure events so far."""

    pod: PodState
    sandbox_events: tuple[str, ...]
    #: the PodScheduled condition's status ("True", "False"; "" while the pod has none) and,
    #: when False, its reason and message as the scheduler wrote them
    scheduled: str = ""
    unscheduled_because: str = ""

    @property
    def stuck_creating(self) -> bool:
        return self.pod.phase == "Pending" and "ContainerCreating" in self.pod.waiting

    @property
    def outcome(self) -> str:
        """``sandbox-failed`` | ``not-synced`` | ``unscheduled`` | ``running`` | ``other``."""
        if self.pod.phase == "Running":
            return "running"
        if self.sandbox_events and self.stuck_creating:
            return "sandbox-failed"
        pending_bare = self.pod.phase == "Pending" and not self.pod.waiting and not self.sandbox_events
        if pending_bare and self.scheduled == "False":
            return "unscheduled"
        if pending_bare and self.scheduled == "True":
            return "not-synced"
        return "other"


class ProbePod:
    def __init__(self, kube: Kube, namespace: str, image: str, poll_s: float) -> None:
        self.kube = kube
        self.namespace = namespace
        self.image = image
        self.poll_s = poll_s
        self.sightings: list[Sighting] = []

    def create(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "lrmatrix"}},
            "spec": {
                "containers": [{"name": "nginx", "image": self.image}],
                "terminationGracePeriodSeconds": 1,
            },
        }
        self.kube.core.create_namespaced_pod(self.namespace, body)

    def look(self) -> Sighting:
        raw = self.kube.core.read_namespaced_pod(NAME, self.namespace)
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={NAME}"
        )
        failed = tuple(e.message or "" for e in events.items if e.reason == SANDBOX_FAILED)
        status, because = scheduled_condition(raw)
        sighting = Sighting(PodState.from_pod(raw), failed, status, because)
        self.sightings.append(sighting)
        return sighting

    def wait_sandbox_failure(self, until: float, each: Callable[[], object] | None = None) -> Sighting:
        """Look until a FailedCreatePodSandBox event shows up or the clock reaches ``until``;
        ``each`` runs at every look too (the node's Ready condition is sampled alongside)."""
        runner = self.kube.runner

        def look() -> bool:
            if each is not None:
                each()
            return bool(self.look().sandbox_events)

        poll(look, until - runner.monotonic(), self.poll_s, runner.clock)
        return self.sightings[-1]

    def wait_running(self, timeout: float) -> Sighting:
        poll(lambda: _running(self.look()), timeout, self.poll_s, self.kube.runner.clock)
        return self.sightings[-1]

    def nginx_version(self) -> str:
        return self.kube.exec(NAME, self.namespace, ["nginx", "-v"]).strip()

    def delete(self) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.kube.core.delete_namespaced_pod(NAME, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise


def scheduled_condition(pod: Any) -> tuple[str, str]:
    """The pod's PodScheduled status, and "reason: message" when it is False."""
    conditions = (pod.status.conditions if pod.status else None) or []
    found = next((c for c in conditions if c.type == upstream.POD_SCHEDULED), None)
    if found is None:
        return "", ""
    because = f"{found.reason or ''}: {found.message or ''}".strip(": ") if found.status == "False" else ""
    return str(found.status or ""), because


def _running(seen: Sighting) -> bool:
    return seen.pod.phase == "Running" and seen.pod.ready
