"""The Kubernetes steps of a cell, in the order a run performs them around the disruption.

The scenario (or ``lrmatrix plan``) calls ``setup``, ``baseline``, then stops the daemon,
calls ``outage`` (which lasts until the end of the outage window), starts the daemon, and
calls ``after``, ``change`` and ``teardown``. Each step only observes and records; the
checks in infra_tests decide what the observations mean for the cell.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lrmatrix.kube.api import Kube
from lrmatrix.kube.node import NodeTimeline
from lrmatrix.kube.probe_pod import ProbePod, Sighting
from lrmatrix.kube.settings import KubeSettings
from lrmatrix.kube.workload import NODE_PORT, KubeWorkload, PodState
from lrmatrix.matrix import Cell
from lrmatrix.workload import ENDPOINTS

IMAGE = "nginx:alpine"


class KubeCell:
    def __init__(self, cell: Cell, kube: Kube, settings: KubeSettings | None = None) -> None:
        self.cell = cell
        self.kube = kube
        self.settings = settings or KubeSettings.load()
        poll = self.settings.node_poll_s
        self.workload = KubeWorkload(kube, self.settings.namespace(cell.name), self.settings)
        self.timeline = NodeTimeline(kube, poll)
        self.probe_pod = ProbePod(kube, self.workload.namespace, IMAGE, poll)
        self.before: list[PodState] = []
        self.during: list[PodState] = []
        self.after_pods: list[PodState] = []
        self.outage_sighting: Sighting | None = None
        self.recovered_sighting: Sighting | None = None
        self.node_ready_again: bool | None = None
        self.nginx_version = ""

    def targets(self, address: str) -> list[str]:
        """The ``node`` access path: every endpoint through the NodePort."""
        return [f"http://{address}:{NODE_PORT}{ep.path}" for ep in ENDPOINTS]

    def setup(self) -> None:
        self.timeline.discover()
        self.workload.deploy()
        self.workload.wait_ready(self.cell.timings.ready_timeout_s)

    def baseline(self) -> None:
        self.timeline.poll()
        self.before = self.workload.pods()

    def outage(self, down_at: float) -> None:
        """From the stop until the end of the outage window: a new pod, the pods, the node."""
        until = down_at + self.cell.timings.outage_window_s
        self.probe_pod.create()
        self.outage_sighting = self.probe_pod.wait_sandbox_failure(until)
        self.during = self.workload.pods()
        self.timeline.watch(until)

    def after(self) -> None:
        timings = self.cell.timings
        self.node_ready_again = self.timeline.wait_for("True", timings.recover_timeout_s)
        self.after_pods = self.workload.wait_ready(timings.ready_timeout_s)
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
                {**asdict(s.pod), "sandbox_events": list(s.sandbox_events)} for s in self.probe_pod.sightings
            ],
            "nginx_version": self.nginx_version,
        }
