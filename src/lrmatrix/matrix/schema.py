"""The strict schema of ``matrix/matrix.toml`` and its one-line error messages.

A typo in the matrix must not run a different experiment than the one written down (a
misspelt ``stop_signal`` ran the crash cell with SIGTERM, and it passed; ``nan`` ran a 0.1 s
window). So every table and key is declared here with its type and range; anything else is
refused before a node is touched, with the nearest valid key suggested.

pydantic does the validation; this module only declares the models and turns pydantic's
first error into the line a user reads: file, table, key, what is wrong, what to do. To add
a table or a key (for example ``[engines.<name>]``), add a field to the model it belongs to;
the error messages and suggestions follow from the models. What only one driver reads (its
platform keys, its tables) is declared in its folder and composed in by ``compose``.
"""

from __future__ import annotations

import json
import math
import types
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, create_model

from lrmatrix.matrix.scenarios import SCENARIO_NAME, ScenarioTable
from lrmatrix.matrix.table import Table
from lrmatrix.matrix.workloads import WORKLOAD_NAME, WorkloadTable

PLATFORM_NAME = r"^(engine\d*|k8s\d{3})$"
#: names become file names (``<cell>.json.partial``, ``.<cell>.lock``, ``<cell>.dockerd.log``)
#: and tox env names; a 256-character platform ended in "File name too long" mid-run
MAX_PLATFORM_NAME, MAX_CELL_NAME = 16, 64
PlatformName = Annotated[str, Field(max_length=MAX_PLATFORM_NAME, pattern=PLATFORM_NAME)]
VARIANT_NAME = r"^(liverestore|noliverestore)$"
VERSION = r"^v\d+\.\d+\.\d+$"
ENGINE_NAME = r"^[a-z][a-z0-9_]*$"
DEBIAN_VERSION = r"^(\d+:)?\d[A-Za-z0-9.+~-]*$"

Expectation = Literal["survive", "outage"]
#: SIGTERM is how a service manager stops dockerd; SIGKILL is the crash variant
StopSignal = Literal["SIGTERM", "SIGKILL"]
#: shell command lines run on a node (``sh -c``) one after another; one line is a list of one
Commands = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4000, pattern=r"\S")]],
    BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
    Field(min_length=1, max_length=10),
]


def seconds(low: float, high: float) -> Any:
    """A finite duration in seconds within [low, high]: a range keeps a run bounded in time
    and in requests (an interval of 1e9 s or a window of 1e300 s is a mistake, not a plan)."""
    return Annotated[float, Field(ge=low, le=high)]


class TimingsTable(Table):
    """Scenario timings; each level ([timings], a platform's, a cell's) overrides the keys it sets."""

    outage_window_s: seconds(0.5, 3600) | None = None
    probe_interval_s: seconds(0.005, 10) | None = None
    probe_timeout_s: seconds(0.01, 60) | None = None
    ready_timeout_s: seconds(1, 3600) | None = None
    recover_timeout_s: seconds(1, 3600) | None = None
    stop_timeout_s: seconds(1, 3600) | None = None
    #: a package-upgrade cell's command must end within this
    upgrade_timeout_s: seconds(10, 7200) | None = None
    #: the log rate before the stop is measured over at least this (0: the baseline as it is)
    log_rate_min_s: seconds(0, 60) | None = None

    def overrides(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class AxesTable(Table):
    platform: Annotated[list[PlatformName], Field(min_length=1)]
    variant: Annotated[list[Annotated[str, Field(pattern=VARIANT_NAME)]], Field(min_length=1)]


class PlatformTable(Table):
    """What every platform may say; ``compose`` adds the registered drivers' own keys and
    narrows ``driver`` to their names."""

    driver: str
    description: str = ""
    stop_signal: StopSignal | None = None
    #: the node's own daemon.json before the cell changes live-restore: dockerd's keys, not ours
    daemon_json: dict[str, Any] = Field(default_factory=dict)
    timings: TimingsTable = TimingsTable()
    #: the Docker engine its nodes run: an [engines.<name>] table; default the machine's
    engine: Annotated[str, Field(pattern=ENGINE_NAME)] | None = None
    #: what its cells deploy and probe: a [workloads.<name>] table; default the seed's nginx
    workload: Annotated[str, Field(pattern=WORKLOAD_NAME)] | None = None
    #: the Docker minor version ("20.10") its scenario cells' expectations were measured on, for a
    #: platform on the machine's own Docker (a pinned engine says it itself)
    scenario_docker: Annotated[str, Field(pattern=r"^\d+\.\d+$")] | None = None


class VariantTable(Table):
    live_restore: bool
    expect: Expectation
    description: str = ""


class LoadTable(Table):
    """A bounded load on the node path, apart from the probe: log pressure that does not
    depend on the probe interval. ``pad_bytes`` lengthens each request (a query string), and
    with it each access-log line."""

    rate_per_s: Annotated[float, Field(gt=0, le=200)]
    path: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/"
    pad_bytes: Annotated[int, Field(ge=0, le=4000)] = 0


class CellTable(Table):
    """An extra cell ``<platform>-<variant>-<extra>``: what it changes from its variant."""

    expect: Expectation | None = None
    stop_signal: StopSignal | None = None
    #: access paths other than ``node`` (whose expectation is ``expect``)
    expect_paths: dict[Literal["loopback", "pod"], Expectation] = Field(default_factory=dict)
    daemon_json: dict[str, Any] = Field(default_factory=dict)
    timings: TimingsTable = TimingsTable()
    description: str = ""
    #: upgrade and downgrade cells: the engine started after the window on the same data-root
    engine_after: Annotated[str, Field(pattern=ENGINE_NAME)] | None = None
    load: LoadTable | None = None
    #: where nginx writes its access log: the container's stdout (the seed's), or a file in it
    access_log: Literal["stdout", "file"] | None = None
    #: the cell exists to show a stall: every container must be seen blocked in a log write,
    #: within 25 % of its predicted horizon
    expect_stall: bool | None = None
    #: a package-upgrade cell: the node's own upgrade command is the disruption (ssh nodes);
    #: a list runs its commands one after another, each timed and its effects told apart.
    #: ``engine_after`` names the engine that must answer after it; ``{debs}`` in a command is
    #: the folder on the node where the harness staged that engine's .debs
    upgrade_command: Commands | None = None
    #: a crash (stop_signal = "SIGKILL") that the node's service manager answers by starting
    #: dockerd again (systemd's Restart=): measured, not held off; ssh nodes
    respawn: bool | None = None
    #: as the platform's: this cell's window may reach the not-ready toleration (Kubernetes)
    accept_eviction: bool | None = None
    #: as the platform's: the [workloads.<name>] this cell deploys
    workload: Annotated[str, Field(pattern=WORKLOAD_NAME)] | None = None


class EngineTable(Table):
    """``[engines.<name>]``: Debian's docker.io and containerd of one suite, exact versions
    (fetched into the cache by lrmatrix.matrix.engines, never installed)."""

    suite: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    docker: Annotated[str, Field(pattern=DEBIAN_VERSION)]
    containerd: Annotated[str, Field(pattern=DEBIAN_VERSION)]
    #: only if the suite's runc runs here (Debian 13's needs glibc 2.38)
    runc: Annotated[str, Field(pattern=DEBIAN_VERSION)] | None = None
    description: str = ""


class KubernetesTable(Table):
    """Kubernetes-only settings (read by lrmatrix.kube; validated here with the rest)."""

    namespace_prefix: Annotated[str, Field(pattern=r"^[a-z0-9-]{0,20}$")] = "lrm-"
    node_poll_s: seconds(0.1, 60) = 2.0
    rollout_timeout_s: seconds(1, 3600) = 300.0
    pending_timeout_s: seconds(1, 3600) = 300.0


class MatrixFile(Table):
    schema_: Literal["lrmatrix.matrix.cells/1"] = Field(alias="schema")
    timings: TimingsTable = TimingsTable()
    axes: AxesTable
    platforms: dict[PlatformName, PlatformTable]
    variants: dict[Annotated[str, Field(pattern=VARIANT_NAME)], VariantTable]
    cells: dict[Annotated[str, Field(max_length=MAX_CELL_NAME)], CellTable] = Field(default_factory=dict)
    engines: dict[Annotated[str, Field(pattern=ENGINE_NAME)], EngineTable] = Field(default_factory=dict)
    kubernetes: KubernetesTable = KubernetesTable()
    workloads: dict[Annotated[str, Field(pattern=WORKLOAD_NAME, max_length=32)], WorkloadTable] = Field(
        default_factory=dict
    )
    #: each makes a cell <platform>-<variant>-<name> per platform and variant (docs/scenarios.md)
    scenarios: dict[Annotated[str, Field(pattern=SCENARIO_NAME, max_length=24)], ScenarioTable] = Field(
        default_factory=dict
    )


@cache
def compose(
    drivers: tuple[str, ...],
    platform_keys: tuple[tuple[str, type[BaseModel]], ...] = (),
    tables: tuple[tuple[str, str, type[BaseModel]], ...] = (),
) -> type[MatrixFile]:
    """The schema of a matrix with these drivers: ``driver`` one of their names, the platform
    keys each declares (scheme, model) on every platform table (whose driver may set only its
    own: ``foreign_keys``), and their top-level tables (scheme, name, model). A key or table
    two of them declare, or one the schema has, is refused: which one is meant could not be
    told."""
    seen = {name: "lrmatrix" for name in PlatformTable.model_fields}
    for scheme, model in platform_keys:
        for key in model.model_fields:
            if key in seen:
                raise ValueError(f"the {scheme} driver declares platform key {key!r}, as {seen[key]} does")
            seen[key] = f"the {scheme} driver"
    top = {name: "lrmatrix" for name in MatrixFile.model_fields}
    for scheme, name, _ in tables:
        if name in top:
            raise ValueError(f"the {scheme} driver declares the table [{name}], as {top[name]} does")
        top[name] = f"the {scheme} driver"
    platform = create_model(  # type: ignore[call-overload]
        "PlatformTable",
        __base__=(PlatformTable, *(model for _, model in platform_keys)),
        __module__=__name__,
        driver=(Literal[drivers], ...),  # type: ignore[valid-type]
    )
    return create_model(  # type: ignore[call-overload,no-any-return]
        "MatrixFile",
        __base__=MatrixFile,
        __module__=__name__,
        platforms=(dict[PlatformName, platform], ...),  # type: ignore[valid-type]
        **{name: (model, model()) for _, name, model in tables},
    )


def foreign_keys(
    platform: PlatformTable, platform_keys: tuple[tuple[str, type[BaseModel]], ...]
) -> list[tuple[str, str]]:
    """(key, driver) of each key set on ``platform`` that another driver than its own declared."""
    own = {key for scheme, model in platform_keys if scheme == platform.driver for key in model.model_fields}
    return sorted(
        (key, scheme)
        for scheme, model in platform_keys
        if scheme != platform.driver
        for key in model.model_fields
        if key in platform.model_fields_set and key not in own
    )


def validate(data: dict[str, Any], source: Path, schema: type[MatrixFile]) -> MatrixFile:
    """The validated file, or ``ValueError`` with one line: file, table, key, what to do."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ValueError(one_line(exc, source, schema)) from None


# --- from pydantic's error to one line -----------------------------------------------------
def one_line(exc: ValidationError, source: Path, root: type[BaseModel]) -> str:
    # an unknown key first: a misspelt required key is also reported missing, and the typo
    # is the cause the user can see
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = _join_indexes(err["loc"])
    if loc and loc[-1] == "[key]":  # a name inside a table of names failed its type or pattern
        *parents, name, _ = loc
        if err["type"] == "string_too_long":
            limit = err.get("ctx", {}).get("max_length")
            return (
                f"{source} [{_dotted(parents)}]: the name {_toml(name)} is {len(name)} characters long; "
                f"rename it to at most {limit} (names become file names and tox env names)"
            )
        return f"{source} [{_dotted(parents)}]: {_name_problem(parents, name, root)}"
    *parents, key = loc or ["?"]
    where = f"{source} [{_dotted(parents)}]" if parents else str(source)
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        known = _keys(_model_at(parents, root))
        kind = "table" if isinstance(value, dict) else "key"

        def shown(k: str) -> str:
            return f"[{_dotted([*parents, k])}]" if kind == "table" else repr(k)

        close = _close_matches(key, known)
        todo = f"did you mean {shown(close[0])}?" if close else "remove it"
        return f"{where}: unknown {kind} {shown(key)}; {todo} (known: {', '.join(known)})"
    if err["type"] == "missing":
        return f"{where}: {key!r} is missing; add it ({_expected(parents, key, root)})"
    return (
        f"{where}: {key} = {_toml(value)} is not allowed ({err['msg'].lower()}); "
        f"use {_expected(parents, key, root)}"
    )


def _close_matches(word: str, choices: list[str]) -> list[str]:
    """difflib, imported only when there is an error to explain: every cell run loads this
    module, and difflib costs as much to import as validating the whole matrix."""
    import difflib

    return difflib.get_close_matches(word, choices, n=1, cutoff=0.6)


def _join_indexes(loc: tuple[int | str, ...]) -> list[str]:
    """``("axes", "variant", 1)`` to ``["axes", "variant[1]"]``: a list item is a key's value."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int) and out:
            out[-1] += f"[{part}]"
        else:
            out.append(str(part))
    return out


def _dotted(parts: list[str]) -> str:
    return ".".join(parts)


def _name_problem(parents: list[str], name: str, root: type[BaseModel]) -> str:
    """A wrong name in a table of names: the valid ones (and the nearest), or their pattern."""
    key_type = _unwrap(get_args(_annotation_at(parents, root))[0])
    if get_origin(key_type) is Literal:
        valid = [str(a) for a in get_args(key_type)]
        close = _close_matches(name, valid)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{name!r} is not allowed here; {hint}use one of {', '.join(valid)}"
    pattern = {"platforms": PLATFORM_NAME, "variants": VARIANT_NAME, "scenarios": SCENARIO_NAME}.get(
        parents[-1] if parents else ""
    )
    return f"unknown name {name!r}; " + (f"a name here matches {pattern}" if pattern else "check the name")


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` to ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _annotation_at(parents: list[str], root: type[BaseModel]) -> Any:
    """The type of the table at ``parents`` (dict levels take any key), unwrapped."""
    current: Any = root
    for part in parents:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _field(current, part)
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _model_at(parents: list[str], root: type[BaseModel]) -> type[BaseModel] | None:
    current = _annotation_at(parents, root)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _expected(parents: list[str], key: str, root: type[BaseModel]) -> str:
    """What a valid value looks like, from the field's type and its bounds."""
    model, table = _model_at(parents, root), _annotation_at(parents, root)
    name, item = key.partition("[")[::2]
    if model is not None:
        field = _field(model, name)
        if field is None:
            return "a known key"
        annotation, constraints = field.annotation, list(field.metadata)
        if item:  # one item of a list: its own type and constraints
            annotation, constraints = get_args(_unwrap(annotation))[0], []
    elif get_origin(table) is dict:
        annotation, constraints = get_args(table)[1], []
    else:
        return "a value of the documented type"
    constraints += _metadata(annotation)
    annotation = _unwrap(annotation)
    low = next((m.ge for m in constraints if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in constraints if isinstance(m, annotated_types.Le)), None)
    if annotation is float and low is not None and high is not None:
        return f"a finite number of seconds from {low:g} to {high:g}"
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is str:
        pattern = next((m.pattern for m in constraints if getattr(m, "pattern", None)), None)
        longest = next((m.max_length for m in constraints if isinstance(m, annotated_types.MaxLen)), None)
        text = f"a string of at most {longest} characters" if longest else "a string"
        return f"{text} matching {pattern}" if pattern else text
    if get_origin(annotation) is list:
        return "a list"
    return "a table"


def _metadata(annotation: Any) -> list[Any]:
    """Constraints inside ``Annotated[...]`` (possibly under ``| None``)."""
    found: list[Any] = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if get_origin(a) is Annotated:
            found += list(get_args(a)[1:])
            stack.append(get_args(a)[0])
        elif get_origin(a) in (Union, types.UnionType):
            stack += list(get_args(a))
    return [m for meta in found for m in getattr(meta, "metadata", [meta])]


def _toml(value: Any) -> str:
    """A value as the user wrote it in TOML (``nan``, ``true``, ``"x"``), shortened."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:g}"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
