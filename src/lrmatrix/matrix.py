"""The matrix as data: axes, cells, expectations and timings, loaded from ``matrix/``.

Everything that differs between cells lives in ``matrix/matrix.toml`` so that adding a
cell is a data change, and ``tox.ini`` can be checked against it.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from lrmatrix.errors import BadInput

CELL_NAME = re.compile(r"^(engine|k8s\d{3})-(liverestore|noliverestore)(-[a-z0-9]+)*$")
Verdict = Literal["survive", "outage"]
VERDICTS: tuple[str, ...] = ("survive", "outage")
#: SIGTERM is how a service manager stops dockerd; SIGKILL is the crash variant
STOP_SIGNALS: tuple[str, ...] = ("SIGTERM", "SIGKILL")
MATRIX_SCHEMA = "lrmatrix.matrix/1"


@dataclass(frozen=True)
class Timings:
    """Scenario timings in seconds; floats so sub-second probe intervals are exact."""

    outage_window_s: float = 5.0
    probe_interval_s: float = 0.05
    probe_timeout_s: float = 0.5
    ready_timeout_s: float = 30.0
    recover_timeout_s: float = 30.0
    stop_timeout_s: float = 20.0

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str, base: Timings | None = None) -> Timings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInput(f"{where}: unknown timing {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values: dict[str, float] = {}
        for key, value in data.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise BadInput(f"{where}: timing {key!r} must be a positive number, got {value!r}")
            values[key] = float(value)
        return replace(base or cls(), **values)


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

    def names(self) -> list[str]:
        return [c.name for c in self.cells]

    def cell(self, name: str) -> Cell:
        for c in self.cells:
            if c.name == name:
                return c
        raise BadInput(f"unknown cell {name!r}; valid cells: {', '.join(self.names())}")


def find_matrix_dir(start: Path | None = None) -> Path:
    """Locate ``matrix/``: $LRMATRIX_MATRIX, else the nearest one above the working directory."""
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
    raise BadInput(
        "no matrix/matrix.toml found here or above; run from the lrmatrix checkout or set LRMATRIX_MATRIX"
    )


def load_matrix(path: Path | None = None) -> Matrix:
    """Read and validate the matrix; every problem is one line naming the key at fault."""
    folder = path or find_matrix_dir()
    file = folder / "matrix.toml"
    try:
        data = tomllib.loads(file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{file}: cannot read the matrix: {exc}") from exc
    return parse_matrix(data, file)


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise BadInput(f"{where}: {key!r} must be a table")
    return value


def parse_matrix(data: dict[str, Any], source: Path) -> Matrix:
    where = str(source)
    if data.get("schema") != MATRIX_SCHEMA:
        raise BadInput(f"{where}: schema must be {MATRIX_SCHEMA!r}, got {data.get('schema')!r}")
    base_timings = Timings.from_mapping(_table(data, "timings", where), f"{where} [timings]")
    axes_raw = _table(data, "axes", where)
    axes = {k: tuple(v) for k, v in axes_raw.items()}
    platforms = _table(data, "platforms", where)
    variants = _table(data, "variants", where)
    cells: list[Cell] = []
    for platform, variant in itertools.product(axes.get("platform", ()), axes.get("variant", ())):
        cells.append(
            _make_cell(
                f"{platform}-{variant}", platform, variant, platforms, variants, base_timings, {}, where
            )
        )
    for name, extra in _table(data, "cells", where).items():
        match = CELL_NAME.match(name)
        if not match or not match.group(3):
            raise BadInput(f"{where}: extra cell {name!r} must be <platform>-<variant>-<extra>")
        cells.append(
            _make_cell(name, match.group(1), match.group(2), platforms, variants, base_timings, extra, where)
        )
    # extra cells follow the generated cells of their platform, so a platform reads as a block
    platform_order = list(axes.get("platform", ()))
    cells.sort(
        key=lambda c: (
            platform_order.index(c.platform) if c.platform in platform_order else len(platform_order)
        )
    )
    names = [c.name for c in cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{where}: cell {dupes[0]!r} is defined twice")
    return Matrix(cells=tuple(cells), axes=axes, source=source)


def _make_cell(
    name: str,
    platform: str,
    variant: str,
    platforms: dict[str, Any],
    variants: dict[str, Any],
    base_timings: Timings,
    extra: dict[str, Any],
    where: str,
) -> Cell:
    if not CELL_NAME.match(name):
        raise BadInput(f"{where}: cell name {name!r} does not match {CELL_NAME.pattern}")
    if platform not in platforms:
        raise BadInput(f"{where}: cell {name!r} names platform {platform!r} with no [platforms.{platform}]")
    if variant not in variants:
        raise BadInput(f"{where}: cell {name!r} names variant {variant!r} with no [variants.{variant}]")
    plat, var = platforms[platform], variants[variant]
    merged: dict[str, Any] = {**plat, **var, **extra}
    expect = merged.get("expect")
    if expect not in VERDICTS:
        raise BadInput(f"{where}: cell {name!r} expects {expect!r}; use one of {', '.join(VERDICTS)}")
    timings = Timings.from_mapping(
        plat.get("timings", {}), f"{where} [platforms.{platform}.timings]", base_timings
    )
    timings = Timings.from_mapping(extra.get("timings", {}), f"{where} [cells.{name}.timings]", timings)
    expect_paths = dict(extra.get("expect_paths", {}))
    for path, verdict in expect_paths.items():
        if path == "node" or verdict not in VERDICTS:
            raise BadInput(
                f"{where}: cell {name!r} expect_paths.{path} = {verdict!r}; name a path other than node "
                f"(its expectation is 'expect') and one of {', '.join(VERDICTS)}"
            )
    stop_signal = str(merged.get("stop_signal", "SIGTERM"))
    if stop_signal not in STOP_SIGNALS:
        raise BadInput(
            f"{where}: cell {name!r} stop_signal {stop_signal!r}; use one of {', '.join(STOP_SIGNALS)}"
        )
    daemon_json = {**plat.get("daemon_json", {}), **extra.get("daemon_json", {})}
    if "live-restore" in daemon_json:
        raise BadInput(f"{where}: cell {name!r} sets live-restore in daemon_json; the variant owns it")
    return Cell(
        name=name,
        platform=platform,
        variant=variant,
        driver=str(merged.get("driver", "")),
        live_restore=bool(merged.get("live_restore")),
        expect=expect,
        timings=timings,
        stop_signal=stop_signal,
        expect_paths=expect_paths,
        kubernetes=merged.get("kubernetes"),
        daemon_json=daemon_json,
        description=str(extra.get("description") or var.get("description", "")),
    )
