"""The matrix's cells, loaded from ``matrix/``: axes, cells, expectations and timings.

Everything that differs between cells lives in ``matrix/matrix.toml`` so that adding a
cell is a data change, and ``tox.ini`` can be checked against it. The schema is the one in
``lrmatrix.matrix.schema`` with what the registered drivers declare (their names, their
platform keys, their tables); the cells are ``lrmatrix.matrix.model``'s.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lrmatrix import parsed
from lrmatrix.drivers import registry
from lrmatrix.errors import BadInput, EnvironmentProblem
from lrmatrix.kube import upstream
from lrmatrix.matrix import engine_match, schema
from lrmatrix.matrix.engines import MACHINE, MACHINE_ENGINE, Engine
from lrmatrix.matrix.model import Cell, Load, Matrix, Timings
from lrmatrix.matrix.scenarios import scenario_cells
from lrmatrix.matrix.workloads import specs
from lrmatrix.results import documents
from lrmatrix.workload.spec import SEED, WorkloadSpec

#: in an upgrade command: the folder on the node where the harness staged engine_after's .debs
STAGED_DEBS = "{debs}"
CELL_NAME = re.compile(r"^(engine\d*|k8s\d{3})-(liverestore|noliverestore)(-[a-z0-9]+)*$")
#: a matrix of every Kubernetes minor and engine is tens of kB
MAX_MATRIX_BYTES = 1 << 20
#: an expect_stall cell's log rate must span at least this much of the load: over the ~0.3 s
#: baseline one ~1 kB line more or less moved the prediction by a sixth (a CI failure)
STALL_RATE_MIN_S = 1.0


#: the matrix the package carries: the checkout's own ``matrix/`` (``defaults/`` links to it and
#: the wheel holds a copy), so an installed lrmatrix runs its default cells from any folder
DEFAULT_MATRIX = Path(__file__).parent.parent / "defaults" / "matrix"


def own_matrix_dir(start: Path | None = None) -> Path | None:
    """The project's own ``matrix/``: $LRMATRIX_MATRIX, else the nearest one above ``start``
    (the working directory); ``None`` if there is none."""
    env = os.environ.get("LRMATRIX_MATRIX")
    if env:
        path = Path(env)
        if not (path / "matrix.toml").is_file():
            raise BadInput(f"LRMATRIX_MATRIX={env} has no matrix.toml; point it at the matrix/ folder")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "matrix" / "matrix.toml").is_file():
            return folder / "matrix"
    return None


def find_matrix_dir(start: Path | None = None) -> Path:
    """Locate ``matrix/``: the project's own (``own_matrix_dir``), else the package's default."""
    own = own_matrix_dir(start)
    if own is not None:
        return own
    if not (DEFAULT_MATRIX / "matrix.toml").is_file():  # an install that lost its package data
        raise EnvironmentProblem(
            f"no matrix/matrix.toml here or above, and the package's default ({DEFAULT_MATRIX}) is "
            "missing; reinstall lrmatrix or set LRMATRIX_MATRIX"
        )
    return DEFAULT_MATRIX


def matrix_origin(folder: Path) -> str:
    """Which matrix is in use and why, for the header of ``lrmatrix cells``."""
    if folder == DEFAULT_MATRIX:
        return "the default matrix packaged with lrmatrix (no matrix/ here or above; lrmatrix init makes one)"
    if os.environ.get("LRMATRIX_MATRIX"):
        return f"{folder} (LRMATRIX_MATRIX)"
    return str(folder)


def load_matrix(path: Path | None = None) -> Matrix:
    """Read and validate the matrix; every problem is one line naming the key at fault."""
    folder = path or find_matrix_dir()
    file = folder / "matrix.toml"
    fix = "fix the file or set LRMATRIX_MATRIX"
    raw = documents.read_regular(file, MAX_MATRIX_BYTES, fix)
    deep = f"nested too deep (no matrix needs more than {documents.MAX_DEPTH} levels)"
    try:
        data = parsed.toml(raw.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{file}: cannot read the matrix: {exc}; {fix}") from exc
    except RecursionError:
        raise BadInput(f"{file}: cannot read the matrix: {deep}; {fix}") from None
    at = documents.too_deep(data)
    if at is not None:
        raise BadInput(f"{file}: cannot read the matrix: {deep}, at {at[:80]}...; {fix}")
    return parse_matrix(data, file)


def _drivers_keys() -> tuple[tuple[str, ...], tuple[tuple[str, type[BaseModel]], ...]]:
    """The registered drivers' names and the platform keys each declares."""
    drivers = registry.drivers()
    return tuple(drivers), tuple((n, d.platform_keys) for n, d in drivers.items() if d.platform_keys)


def _schema() -> type[schema.MatrixFile]:
    """The matrix schema with what the registered drivers declare."""
    names, platform_keys = _drivers_keys()
    tables = tuple((n, t, m) for n, d in registry.drivers().items() for t, m in d.matrix_tables.items())
    try:
        return schema.compose(names, platform_keys, tables)
    except ValueError as exc:  # two plugins claim one key: neither can be trusted with it
        raise EnvironmentProblem(f"the registered drivers do not fit together: {exc}") from None


def parse_matrix(data: dict[str, Any], source: Path) -> Matrix:
    """Cells from a parsed matrix.toml: the schema first (types, ranges, unknown keys), then
    what only the whole file can say (axes name tables, cell names fit the axes, a driver's
    platform keys on its own platforms only)."""
    try:
        doc = schema.validate(data, source, _schema())
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    where = str(source)
    for name, plat in doc.platforms.items():
        for key, owner in schema.foreign_keys(plat, _drivers_keys()[1])[:1]:
            raise BadInput(
                f"{where} [platforms.{name}]: {key} is for {owner} platforms, and this one's driver is "
                f"{plat.driver}; remove it"
            )
    base = Timings().overridden(doc.timings)
    axes = {"platform": tuple(doc.axes.platform), "variant": tuple(doc.axes.variant)}
    for axis, tables in (("platform", doc.platforms), ("variant", doc.variants)):
        for name in axes[axis]:
            if name not in tables:
                raise BadInput(
                    f"{where} [axes]: {axis} {name!r} has no [{axis}s.{name}] table; add it or remove "
                    f"{name!r} from axes.{axis}"
                )
    named = [(f"{p}-{v}", p, v, schema.CellTable()) for p, v in itertools.product(*axes.values())]
    for name, extra in doc.cells.items():
        match = CELL_NAME.match(name)
        if not match or not match.group(3):
            raise BadInput(
                f"{where} [cells.{name}]: an extra cell is named <platform>-<variant>-<extra>, "
                "e.g. engine-liverestore-crash; rename the table"
            )
        named.append((name, match.group(1), match.group(2), extra))
    engines = _engines(doc, where)
    workloads = specs(doc.workloads, source.parent, where)
    cells = [
        _make_cell(name, p, v, doc, base, extra, where, engines, workloads) for name, p, v, extra in named
    ]
    for name, p, v, workload, scenario in scenario_cells(
        doc.scenarios, axes["platform"], axes["variant"], where
    ):
        if workload is not None and workload != SEED and workload not in workloads:
            raise BadInput(
                f"{where} [scenarios.{scenario.name}]: workload = {workload!r} has no [workloads.{workload}] "
                f"table; use one of {', '.join([SEED, *workloads])} or add the table"
            )
        extra = schema.CellTable(workload=workload, description=scenario.description, expect=scenario.verdict)
        cell = _make_cell(name, p, v, doc, base, extra, where, engines, workloads)
        measured = engine_match.measured_on(p, doc.platforms[p], cell.engine, where)
        cells.append(replace(cell, scenario=replace(scenario, measured_on=measured)))
    cells = engine_match.with_siblings(cells)
    unused = sorted(set(doc.platforms) - {c.platform for c in cells})
    if unused:
        raise BadInput(
            f"{where} [platforms.{unused[0]}]: no cell uses this platform; add {unused[0]!r} to "
            "axes.platform or remove the table"
        )
    # extra cells follow the generated cells of their platform, so a platform reads as a block
    order = list(axes["platform"])
    cells.sort(key=lambda c: order.index(c.platform) if c.platform in order else len(order))
    names = [c.name for c in cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{where} [cells.{dupes[0]}]: this cell is already made by the axes; rename it")
    return Matrix(cells=tuple(cells), axes=axes, source=source, engines=engines)


def _engines(doc: schema.MatrixFile, where: str) -> dict[str, Engine]:
    """``machine`` (the installed engine) and the ``[engines.<name>]`` tables."""
    if MACHINE in doc.engines:
        raise BadInput(f"{where} [engines.{MACHINE}]: {MACHINE!r} is the installed engine; rename the table")
    pins = {name: t.model_dump(exclude={"description"}, exclude_none=True) for name, t in doc.engines.items()}
    return {MACHINE: MACHINE_ENGINE, **{name: Engine(name, **p) for name, p in pins.items()}}


def _make_cell(
    name: str,
    platform: str,
    variant: str,
    doc: schema.MatrixFile,
    base: Timings,
    extra: schema.CellTable,
    where: str,
    engines: dict[str, Engine],
    workloads: dict[str, WorkloadSpec],
) -> Cell:
    if platform not in doc.platforms:
        raise BadInput(
            f"{where} [cells.{name}]: platform {platform!r} has no [platforms.{platform}] table; "
            "add it or rename the cell"
        )
    if variant not in doc.variants:
        raise BadInput(
            f"{where} [cells.{name}]: variant {variant!r} has no [variants.{variant}] table; "
            "add it or rename the cell"
        )
    plat, var = doc.platforms[platform], doc.variants[variant]
    daemon_json = {**plat.daemon_json, **extra.daemon_json}
    if "live-restore" in daemon_json:
        table = f"cells.{name}" if "live-restore" in extra.daemon_json else f"platforms.{platform}"
        raise BadInput(
            f"{where} [{table}.daemon_json]: 'live-restore' is set by the variant; remove it from daemon_json"
        )
    chosen = {}
    named = (
        (f"platforms.{platform}", "engine", plat.engine),
        (f"cells.{name}", "engine_after", extra.engine_after),
    )
    for table, key, value in named:
        if value is not None and value not in engines:
            raise BadInput(
                f"{where} [{table}]: {key} = {value!r} has no [engines.{value}] table; "
                f"use one of {', '.join(engines)} or add the table"
            )
        chosen[key] = engines[value] if value is not None else None
    driver = _node_driver(name, plat, extra, where)
    if extra.access_log == "file" and plat.driver != "engine":
        raise BadInput(
            f"{where} [cells.{name}]: access_log = 'file' is for engine cells (the Kubernetes workload's "
            "log is set in manifests/); remove it"
        )
    timings = base.overridden(plat.timings).overridden(extra.timings)
    if extra.expect_stall and timings.log_rate_min_s < STALL_RATE_MIN_S:
        raise BadInput(
            f"{where} [cells.{name}]: expect_stall holds a stall to the horizon its log rate predicts, and "
            f"a rate over less than {STALL_RATE_MIN_S:g} s of the load is too coarse to hold it to (the "
            "engine baseline lasts ~0.3 s); add log_rate_min_s = 2.0 to its timings"
        )
    accept_eviction = _accept_eviction(name, platform, doc, extra, timings, where)
    workload = _workload(name, platform, plat, extra, workloads, where)
    return Cell(
        name=name,
        platform=platform,
        variant=variant,
        driver=driver,
        live_restore=var.live_restore,
        expect=extra.expect or var.expect,
        timings=timings,
        stop_signal=extra.stop_signal or plat.stop_signal or "SIGTERM",
        expect_paths=dict(extra.expect_paths),
        kubernetes=_platform_key(plat, "kubernetes"),
        daemon_json=daemon_json,
        description=extra.description or var.description,
        engine=chosen["engine"] or MACHINE_ENGINE,
        engine_after=chosen["engine_after"],
        load=Load(**extra.load.model_dump()) if extra.load else None,
        access_log=extra.access_log or "stdout",
        expect_stall=bool(extra.expect_stall),
        upgrade_command=_steps(extra.upgrade_command),
        respawn=bool(extra.respawn),
        accept_eviction=accept_eviction,
        workload=workload,
    )


def _workload(
    name: str,
    platform: str,
    plat: schema.PlatformTable,
    extra: schema.CellTable,
    workloads: dict[str, WorkloadSpec],
    where: str,
) -> WorkloadSpec | None:
    """The cell's [workloads.<name>] (the cell's over the platform's); None: the seed's nginx."""
    table = f"cells.{name}" if extra.workload is not None else f"platforms.{platform}"
    chosen = extra.workload or plat.workload
    if chosen is None or chosen == SEED:
        return None
    if chosen not in workloads:
        raise BadInput(
            f"{where} [{table}]: workload = {chosen!r} has no [workloads.{chosen}] table; "
            f"use one of {', '.join([SEED, *workloads])} or add the table"
        )
    spec = workloads[chosen]
    kubernetes = bool(_platform_key(plat, "kubernetes"))
    if kubernetes and spec.manifests is None:
        raise BadInput(
            f"{where} [{table}]: workload = {chosen!r} runs containers of its own, which is for engine "
            f'and ssh platforms; a Kubernetes cell deploys a workload with manifests = "<folder>"'
        )
    if spec.manifests is not None and not kubernetes:
        raise BadInput(
            f"{where} [{table}]: workload = {chosen!r} is Kubernetes manifests; pick it on a Kubernetes "
            "platform (one with kubernetes = ...)"
        )
    if extra.access_log is not None:
        raise BadInput(
            f"{where} [cells.{name}]: access_log is the seed nginx's setting, and this cell runs the "
            f"{chosen} workload; remove it"
        )
    if extra.load is not None and all(e.tcp for e in spec.endpoints):
        raise BadInput(
            f"{where} [cells.{name}]: load sends HTTP requests, and the {chosen} workload has only TCP "
            "endpoints; remove it"
        )
    return spec


def _accept_eviction(
    name: str, platform: str, doc: schema.MatrixFile, extra: schema.CellTable, timings: Timings, where: str
) -> bool:
    """A Kubernetes cell's window must end before the not-ready taint's default toleration
    runs out (then the pods are evicted: another experiment), unless the matrix accepts it."""
    plat = doc.platforms[platform]
    kubernetes = _platform_key(plat, "kubernetes")
    accept = (
        extra.accept_eviction if extra.accept_eviction is not None else _platform_key(plat, "accept_eviction")
    )
    if accept is not None and not kubernetes:
        table = f"cells.{name}" if extra.accept_eviction is not None else f"platforms.{platform}"
        raise BadInput(f"{where} [{table}]: accept_eviction is for Kubernetes platforms; remove it")
    window = timings.outage_window_s
    if not kubernetes or accept or window < upstream.NOT_READY_TOLERATION_S:
        return bool(accept)
    table = (
        f"cells.{name}"
        if extra.timings.outage_window_s is not None
        else f"platforms.{platform}"
        if plat.timings.outage_window_s is not None
        else "timings"
    )
    where_to = f"cells.{name}" if name in doc.cells else f"platforms.{platform}"
    raise BadInput(
        f"{where} [{table}]: {upstream.eviction_reached(window)}; use a window under "
        f"{upstream.NOT_READY_TOLERATION_S:g} s, or set accept_eviction = true in [{where_to}]"
    )


def _platform_key(plat: schema.PlatformTable, key: str) -> Any:
    """A key a driver declares for its platforms (``kubernetes``: minikube's), None where the
    platform's driver has no such key."""
    return getattr(plat, key, None)


def _steps(commands: list[str] | None) -> tuple[str, ...]:
    return tuple(commands or ())


def _node_driver(name: str, plat: schema.PlatformTable, extra: schema.CellTable, where: str) -> str:
    """The platform's driver, except for the cells that need a node of yours, reached over ssh:
    a package upgrade (the node's own package manager) and a respawn (its service manager);
    the harness's engine node has neither. Both are engine-platform cells."""
    table = f"{where} [cells.{name}]"
    keys = [k for k, v in (("upgrade_command", extra.upgrade_command), ("respawn", extra.respawn)) if v]
    if not keys:
        return plat.driver
    if plat.driver != "engine":
        raise BadInput(f"{table}: {keys[0]} is for engine platforms (Docker hosts over ssh); remove it")
    if len(keys) > 1:
        raise BadInput(f"{table}: a cell is a package upgrade or a respawn, not both; remove one")
    if extra.respawn:
        if extra.stop_signal != "SIGKILL":
            raise BadInput(f'{table}: respawn follows a crash: add stop_signal = "SIGKILL"')
        if extra.engine_after is not None:
            raise BadInput(f"{table}: the service manager restarts the same engine; remove engine_after")
        return "ssh"
    if extra.engine_after is None:
        raise BadInput(
            f"{table}: upgrade_command needs engine_after = <engine>, the engine that must answer after it"
        )
    if extra.stop_signal is not None:
        raise BadInput(f"{table}: its upgrade command is the disruption, not a signal; remove stop_signal")
    if extra.engine_after == MACHINE:
        raise BadInput(
            f"{table}: engine_after names the version that must answer after the upgrade, and "
            f"{MACHINE!r} pins none: name an [engines.<name>] table"
        )
    return "ssh"
