"""A pod created while the runtime is down (the API up: live-restore), then run once the
runtime is back (``nginx -v`` inside).

Two outcomes both show the outage, and which one happened is recorded: the kubelet still
syncs pods and cri-dockerd fails the sandbox (a FailedCreatePodSandBox event, ContainerCreating),
or the kubelet's runtime check already failed and its sync loop skips pod work (no container
status and no event at all). A pod that runs during the outage means the runtime was not down.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.deadline import poll
from lrmatrix.kube.api import Kube
from lrmatrix.kube.workload import PodState

NAME = "lrm-outage-probe"
SANDBOX_FAILED = "FailedCreatePodSandBox"


@dataclass(frozen=True)
class Sighting:
    """The probe pod as seen once: its state and the sandbox-failure events so far."""

    pod: PodState
    sandbox_events: tuple[str, ...]

    @property
    def stuck_creating(self) -> bool:
        return self.pod.phase == "Pending" and "ContainerCreating" in self.pod.waiting

    @property
    def outcome(self) -> str:
        """``sandbox-failed`` | ``not-synced`` | ``running`` | ``other`` (e.g. an unrelated event)."""
        if self.pod.phase == "Running":
            return "running"
        if self.sandbox_events and self.stuck_creating:
            return "sandbox-failed"
        if self.pod.phase == "Pending" and not self.pod.waiting and not self.sandbox_events:
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
        pod = PodState.from_pod(self.kube.core.read_namespaced_pod(NAME, self.namespace))
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={NAME}"
        )
        failed = tuple(e.message or "" for e in events.items if e.reason == SANDBOX_FAILED)
        sighting = Sighting(pod, failed)
        self.sightings.append(sighting)
        return sighting

    def wait_sandbox_failure(self, until: float) -> Sighting:
        """Look until a FailedCreatePodSandBox event shows up or the clock reaches ``until``."""
        runner = self.kube.runner
        poll(lambda: self.look().sandbox_events, until - runner.monotonic(), self.poll_s, runner.clock)
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


def _running(seen: Sighting) -> bool:
    return seen.pod.phase == "Running" and seen.pod.ready
