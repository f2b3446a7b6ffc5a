"""The checks' testinfra ``host``: testinfra's modules and the node's own, on one backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import testinfra.host

if TYPE_CHECKING:
    from testinfra.backend.base import BaseBackend

    from lrmatrix.modules.dockerd import Dockerd
    from lrmatrix.modules.processes import Processes


class NodeHost(testinfra.host.Host):
    """The checks' testinfra ``host``: testinfra's modules on the node's backend, and the node's
    own modules beside them (``lrm_`` names, clear of testinfra's), the very objects the
    harness uses, so a check and the harness read the node the same way."""

    def __init__(self, backend: BaseBackend, dockerd: Dockerd, processes: Processes) -> None:
        super().__init__(backend)
        self.lrm_dockerd = dockerd
        self.lrm_processes = processes
