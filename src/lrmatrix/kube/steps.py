"""The Kubernetes steps of a cell, in the order a run performs them around the disruption.

The scenario calls ``setup``, ``baseline``, then stops the daemon,
calls ``outage`` (which lasts until the end of the outage window), starts the daemon, and
calls ``after``, ``change`` and ``teardown``. Each step only observes and records; the
checks in infra_tests decide what the observations mean for the cell.

Without live-restore the control plane (kubeadm static pods, Docker containers on minikube)
dies with dockerd, so the outage step makes no API call at all: the ``api`` access path shows
that outage. Timings the sources do not guarantee (when NotReady comes) are findings.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lrmatrix.kube import upstream
from lrmatrix.kube.api import Kube
from lrmatrix.kube.manifests import of
from lrmatrix.kube.node import NodeTimeline
from lrmatrix.kube.probe_pod import ProbePod, Sighting
from lrmatrix.kube.settings import KubeSettings
from lrmatrix.kube.workload import KubeWorkload, PodState
from lrmatrix.matrix.cells import Cell

IMAGE = "nginx:alpine"


class KubeCell:
    def __init__(
        self, cell: Cell, kube: Kube, settings: KubeSettings | None = None, node: object = None
    ) -> None:
        self.cell = cell
        self.node = node
        self.kube = kube
        self.settings = settings or KubeSettings.load()
        poll = self.settings.node_poll_s
        manifests = of(cell.workload.manifests) if cell.workload and cell.workload.manifests else None
        namespace = self.settings.namespace(cell.name)
        self.workload = KubeWorkload(kube, namespace, self.settings, manifests=manifests)
        self.timeline = NodeTimeline(kube, poll)
        self.probe_pod = ProbePod(kube, self.workload.namespace, IMAGE, poll)
        self.before: list[PodState] = []
        self.during: list[PodState] = []
        self.after_pods: list[PodState] = []
        self.outage_sighting: Sighting | None = None
        self.recovered_sighting: Sighting | None = None
        self.node_ready_again: bool | None = None
        self.nginx_version = ""
        self.stopped_at: float | None = None
        self.tainted_in_window = False

    def setup(self) -> None:
        self.timeline.discover()
        self.workload.deploy()
        self.workload.wait_ready(self.cell.timings.ready_timeout_s)

    def baseline(self) -> None:
        self.timeline.poll()
        self.before = self.workload.pods()

    @property
    def api_down_during_outage(self) -> bool:
        """The API server is a Docker container: without live-restore it is gone with dockerd."""
        return not self.cell.live_restore

    def outage(self, stopped_at: float) -> None:
        """From the stop until the end of the outage window: a new pod, the pods, the node;
        nothing at all when the API is expected to be down."""
        self.stopped_at = stopped_at
        if self.api_down_during_outage:
            self.kube.runner.mark("no API calls until docker is back: the API server died with dockerd")
            return
        until = stopped_at + self.cell.timings.outage_window_s
        self.probe_pod.create()
        self.outage_sighting = self.probe_pod.wait_sandbox_failure(until, each=self.timeline.poll)
        self.during = self.workload.pods()
        self.timeline.watch(until)
        # within the window only: a taint first seen afterwards kept no outage pod unscheduled
        self.tainted_in_window = self.timeline.saw_taint(upstream.NOT_READY_TAINTS[0])

    def after(self) -> None:
        timings = self.cell.timings
        self.node_ready_again = self.timeline.wait_for("True", timings.recover_timeout_s)
        self.after_pods = self.workload.wait_ready(timings.ready_timeout_s)
        if self.outage_sighting is None:  # no pod was created: the API was down
            return
        self.recovered_sighting = self.probe_pod.wait_running(self.settings.pending_timeout_s)
        if self.recovered_sighting.pod.phase == "Running":
            self.nginx_version = self.probe_pod.nginx_version()
        self.probe_pod.delete()

    def change(self) -> None:
        self.workload.apply_change()

    def teardown(self) -> None:
        self.workload.remove()

    def summary(self) -> dict[str, Any]:
        """What the result file keeps of the Kubernetes side."""
        return {
            "namespace": self.workload.namespace,
            "node": self.timeline.name,
            "node_ready_timeline": self.timeline.as_dicts(),
            "pods": {
                "before": [asdict(p) for p in self.before],
                "during": [asdict(p) for p in self.during],
                "after": [asdict(p) for p in self.after_pods],
            },
            "outage_pod": [
                {
                    **asdict(s.pod),
                    "sandbox_events": list(s.sandbox_events),
                    "scheduled": s.scheduled,
                    "unscheduled_because": s.unscheduled_because,
                }
                for s in self.probe_pod.sightings
            ],
            "nginx_version": self.nginx_version,
            "outage_pod_outcome": self.outage_sighting.outcome if self.outage_sighting else None,
            "api_down_during_outage": self.api_down_during_outage,
            # the matrix let the window reach the not-ready toleration (accept_eviction)
            "eviction_allowed": self.cell.accept_eviction,
            "control_plane_waits": [w.as_dict() for w in getattr(self.node, "control_plane_waits", [])],
            "findings": self.findings(),
        }

    def not_ready_finding(self) -> str:
        """When the node went NotReady, or that it did not: never assumed, since cri-dockerd's
        one-minute cache of `docker version` puts it anywhere from a few s to ~100 s."""
        window = self.cell.timings.outage_window_s
        if self.stopped_at is None:
            return "node Ready not watched: the scenario did not reach the outage"
        if self.api_down_during_outage:
            return "node Ready not observable during the outage: the API server died with dockerd"
        down = next((tr for tr in self.timeline.transitions if tr.status != "True"), None)
        if down is None:
            return (
                f"node stayed Ready for the whole {window:g} s window "
                f"({self.timeline.samples} samples; cri-dockerd caches docker version for "
                f"{upstream.DOCKER_INFO_CACHE_S:g} s)"
            )
        after = down.t - (self.stopped_at - self.timeline.t0)
        return (
            f"node {down.status} {after:.0f} s after the stop "
            f"({upstream.not_ready_form(down.message)}: {down.reason})"
        )

    def eviction_finding(self) -> str | None:
        """Said whenever the matrix let the window reach the toleration: pods that were
        replaced may have been evicted, not lost to the runtime's outage."""
        if not self.cell.accept_eviction:
            return None
        window = self.cell.timings.outage_window_s
        reach = "reaches" if window >= upstream.NOT_READY_TOLERATION_S else "stays under"
        return (
            f"eviction allowed (accept_eviction): the {window:g} s window {reach} the "
            f"{upstream.NOT_READY_TAINTS[1]} taint's default toleration of "
            f"{upstream.NOT_READY_TOLERATION_S:g} s"
        )

    def findings(self) -> list[str]:
        found = [self.not_ready_finding()]
        eviction = self.eviction_finding()
        if eviction:
            found.append(eviction)
        if self.outage_sighting is not None:
            found.append(outage_pod_finding(self.outage_sighting, self.tainted_in_window))
        before = {p.name: p for p in self.before}
        for pod in self.after_pods:
            old = before.get(pod.name)
            if old is None:
                continue
            changes = [
                f"restartCount {old.restarts} -> {pod.restarts}" if pod.restarts != old.restarts else "",
                f"IP {old.ip} -> {pod.ip}" if pod.ip != old.ip else "",
            ]
            if any(changes):
                found.append(f"pod {pod.name}: " + ", ".join(c for c in changes if c))
        return found


def outage_pod_finding(seen: Sighting, node_tainted: bool = False) -> str:
    """Which of the outcomes that show the outage happened (or that none did). The taint is
    named as the cause only when the node was seen carrying it."""
    if seen.outcome == "sandbox-failed":
        return f"outage pod: FailedCreatePodSandBox: {seen.sandbox_events[0]}"
    if seen.outcome == "not-synced":
        return (
            "outage pod: scheduled (PodScheduled True), then no container status and no event "
            "(the kubelet had stopped syncing pods)"
        )
    if seen.outcome == "unscheduled":
        why = (
            f"the node carried {upstream.NOT_READY_TAINTS[0]}, so the kubelet never got it"
            if node_tainted
            else "no not-ready taint was seen on the node"
        )
        return f"outage pod: never scheduled (PodScheduled False: {seen.unscheduled_because}); {why}"
    if seen.outcome == "running":
        return "outage pod ran during the outage: the runtime was not down"
    scheduled = f" (PodScheduled {seen.scheduled or 'not set'})"
    return f"outage pod: {seen.pod.phase} {seen.pod.waiting}".strip() + scheduled
