"""A matrix as data: its cells, their timings and load, what ``lrmatrix.matrix.cells`` makes of
``matrix/matrix.toml``. Apart from the loader so that the drivers' declarations (which the
loader reads) can name these types without an import circle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lrmatrix.errors import BadInput
from lrmatrix.matrix import schema
from lrmatrix.matrix.engines import MACHINE_ENGINE, Engine
from lrmatrix.matrix.scenarios import Scenario
from lrmatrix.workload.spec import SEED, WorkloadSpec

Verdict = schema.Expectation


@dataclass(frozen=True)
class Timings:
    """Scenario timings in seconds; floats so sub-second probe intervals are exact. Their
    ranges are in ``matrix_schema.TimingsTable``."""

    outage_window_s: float = 5.0
    probe_interval_s: float = 0.05
    probe_timeout_s: float = 0.5
    ready_timeout_s: float = 30.0
    recover_timeout_s: float = 30.0
    stop_timeout_s: float = 20.0
    upgrade_timeout_s: float = 900.0
    #: no wait by default: the baseline lasts ~0.3 s on an engine node, enough for a rate that
    #: only a finding states; a cell that holds a stall to its prediction asks for more
    log_rate_min_s: float = 0.0

    def overridden(self, table: schema.TimingsTable) -> Timings:
        return replace(self, **table.overrides())


@dataclass(frozen=True)
class Load:
    """Requests per second on the node path, to ``path`` padded by ``pad_bytes`` of query."""

    rate_per_s: float
    path: str = "/"
    pad_bytes: int = 0

    @property
    def request_path(self) -> str:
        return self.path + (f"?pad={'x' * self.pad_bytes}" if self.pad_bytes else "")


@dataclass(frozen=True)
class Cell:
    """One point of the matrix; ``name`` is also its tox env name and result file name."""

    name: str
    platform: str
    variant: str
    driver: str
    live_restore: bool
    expect: Verdict
    timings: Timings
    stop_signal: str = "SIGTERM"
    kubernetes: str | None = None
    daemon_json: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: expectations for access paths other than ``node`` (only cells that exist to prove one)
    expect_paths: dict[str, str] = field(default_factory=dict)
    load: Load | None = None
    access_log: str = "stdout"
    expect_stall: bool = False
    #: the Docker engine the node starts with; ``engine_after`` the one started after the
    #: outage window on the same data-root (upgrade and downgrade cells), None: the same
    engine: Engine = MACHINE_ENGINE
    engine_after: Engine | None = None
    #: a package-upgrade cell: these commands, run on the node one after another, are the
    #: disruption (``{debs}``: where the harness staged ``engine_after``'s packages)
    upgrade_command: tuple[str, ...] = ()
    #: a crash the node's service manager answers by starting dockerd again, measured
    respawn: bool = False
    #: Kubernetes: the window may reach the not-ready taint's toleration (pods may be evicted)
    accept_eviction: bool = False
    #: what the cell deploys and probes (a [workloads.<name>] table); None: the seed's nginx
    workload: WorkloadSpec | None = None
    #: a scenario cell (``<platform>-<variant>-<scenario>``): its extra actions and checks
    scenario: Scenario | None = None

    @property
    def workload_name(self) -> str:
        return self.workload.name if self.workload else SEED

    @property
    def held_down(self) -> bool:
        """The harness holds the daemon down for a window (not: an upgrade's or a service
        manager's own restart is the disruption)."""
        return not (self.upgrade_command or self.respawn)

    @property
    def needs_node(self) -> bool:
        """It runs only on a node of yours (``--node ssh://…``): a package upgrade, a respawn, a
        workload in observe mode."""
        observes = self.workload is not None and self.workload.observe is not None
        return bool(self.upgrade_command) or self.respawn or observes

    @property
    def next_engine(self) -> Engine:
        """The engine that comes up when the outage window ends."""
        return self.engine_after or self.engine

    @property
    def extras(self) -> tuple[str, ...]:
        """Name parts after platform and variant (e.g. ``noproxy``)."""
        return tuple(self.name.split("-")[2:])


@dataclass(frozen=True)
class Matrix:
    """All cells, in a stable order: by platform (axis order); within one, generated cells in
    variant order, then its extra cells."""

    cells: tuple[Cell, ...]
    axes: dict[str, tuple[str, ...]]
    source: Path
    engines: dict[str, Engine] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [c.name for c in self.cells]

    def cell(self, name: str) -> Cell:
        for c in self.cells:
            if c.name == name:
                problems = c.workload.problems() if c.workload else []
                if problems:  # before anything runs: a file beside the matrix is missing
                    raise BadInput(problems[0])
                return c
        raise BadInput(f"unknown cell {name!r}; valid cells: {', '.join(self.names())}")
