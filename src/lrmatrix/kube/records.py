"""The evidence a Kubernetes cell keeps of its cluster side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrmatrix.evidence.records import Record

if TYPE_CHECKING:
    from lrmatrix.kube.steps import KubeCell


@dataclass(frozen=True)
class KubeSession(Record):
    """The cell's Kubernetes side (namespace, workload, what the API showed), as set up; what
    it observed is read from it when the run ends (``KubeObservations``)."""

    kube: KubeCell


@dataclass(frozen=True)
class KubeObservations(Record):
    """What the result keeps of the Kubernetes side, and its findings in words."""

    summary: dict[str, Any]
    findings: list[str]
