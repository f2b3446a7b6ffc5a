"""Result files: one JSON per cell run (``lrmatrix.results.model``), written whole or not
at all, and read back as the model (``lrmatrix.result/1`` files through ``results/v1.py``).

A file that is not a result (binary, truncated, NaN, a wrong type, another schema) fails with
one line naming it and the key. Times inside ``probes`` and ``events`` are seconds since
``started_at`` (monotonic clock).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lrmatrix.errors import BadInput
from lrmatrix.evidence.coverage import coverage
from lrmatrix.evidence.identity import identity
from lrmatrix.evidence.probe import PathRecord, down_share, interval_stats, path_outages, recovery_after
from lrmatrix.evidence.records import SavedLog
from lrmatrix.evidence.serving import misdirected, serving
from lrmatrix.evidence.store import Evidence
from lrmatrix.evidence.verdict import Disruption
from lrmatrix.matrix.cells import CELL_NAME
from lrmatrix.results import documents, v1
from lrmatrix.results.model import SCHEMA, Result, parse, said, shown


def summarize_path(
    record: PathRecord, t0: float, d: Disruption, interval: float | None = None
) -> dict[str, Any]:
    """Counts, outage windows (per target, merged), coverage of the down interval, who served,
    recovery and raw samples of one access path; times relative to ``t0``."""
    samples = record.samples
    outages = path_outages(samples)
    during = d.while_down(samples)
    targets = sorted({s.url for s in samples})
    index = {url: i for i, url in enumerate(targets)}
    servers = sorted({s.served_by for s in samples if s.served_by})
    server_index = {name: i for i, name in enumerate(servers)}
    down = interval is not None and d.stop_at is not None and d.start_at is not None
    share = (
        down_share(samples, d.stop_at, d.start_at)
        if d.stop_at is not None and d.start_at is not None
        else None
    )
    return {
        "sent": len(samples),
        "failed": sum(1 for s in samples if not s.ok),
        "sent_while_down": len(during),
        "failed_while_down": sum(1 for s in during if not s.ok),
        "longest_outage_ms": round(outages.longest_s * 1000, 1),
        # the share of the down interval the path was failing (by send time), and from when
        "down_failed_share": None if share is None else share.share,
        "down_failed_from_s": None if share is None else share.from_s,
        "windows": [
            [round(w.start - t0, 3), None if w.end is None else round(w.end - t0, 3)] for w in outages.windows
        ],
        # seconds after the API answered again until every target of this path did too
        "recovery_s": None if d.api_at is None else recovery_after(samples, d.api_at),
        "errors": _error_counts(record),
        "interval": interval_stats(samples),
        "missed_ticks": record.missed_ticks,
        "skipped_in_flight": record.skipped_in_flight,
        "stopped": record.stopped,
        "cpu_s": round(record.cpu_s, 4),
        "setup_error": record.setup_error,
        # requests sent while down against what the interval calls for, overall and per container
        "coverage": (
            coverage(samples, record.targets, interval, d.stop_at, d.start_at).as_dict()  # type: ignore[arg-type]
            if down
            else None
        ),
        # per container (X-Served-By): responses served, last before the stop, first after the start
        "serving": serving(samples, d.stop_at, d.start_at, t0),
        "misdirected": [m.as_dict(t0) for m in misdirected(samples, record.targets)],
        # what tells the containers apart here: their own addresses, a header, or nothing
        "identity": identity(record.name, record.targets, samples),
        "targets": targets,
        "servers": servers,
        # compact samples for timelines: [t, ok, latency_ms, index into targets, index into servers or -1]
        "samples": [
            [round(s.t - t0, 3), int(s.ok), s.latency_ms, index[s.url], server_index.get(s.served_by, -1)]
            for s in samples
        ],
    }


def _error_counts(record: PathRecord) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in record.samples:
        if not s.ok:
            counts[s.error] = counts.get(s.error, 0) + 1
    return counts


#: a result is a few MB at most (an hour's window at 20 requests/s per path); far beyond it, a mistake
MAX_BYTES = 64 << 20
#: where a result goes when the results folder cannot take it, in order (a run's own subfolder)
FALLBACK_BASES = (Path("/var/tmp/lrmatrix-results"), Path("/tmp/lrmatrix-results"))
READ_FIX = "pass a result file or folder"


def write(result: Result | dict[str, Any], folder: Path) -> Path:
    """``<folder>/<cell>.json``, whole or not at all: a partial file is removed, never left. A
    plain dict is a result that did not fit the model: kept as ``<cell>.unchecked.json``, read
    by nothing, so that a disrupted node's evidence is not lost to a harness bug."""
    folder.mkdir(parents=True, exist_ok=True)
    checked = isinstance(result, Result)
    cell = result.cell if isinstance(result, Result) else str(result.get("cell"))
    path = folder / f"{cell}.json" if checked else folder / f"{cell}.unchecked.json"
    partial = path.with_suffix(".json.partial")
    text = (
        json.dumps(result.document(), indent=1, allow_nan=False)
        if isinstance(result, Result)
        else json.dumps(result, indent=1, default=str)
    )
    try:
        partial.write_text(text + "\n")
        partial.replace(path)
    except OSError:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            partial.unlink(missing_ok=True)
        raise
    return path


def write_logs(folder: Path, cell: str, evidence: Evidence) -> list[str]:
    """The logs the run kept (the daemon's, an upgrade's output) beside the result, as
    ``<cell>.<name>``, once the result is safe; what could not be written, in words (a
    truncated log that reads as the whole is removed)."""
    problems = []
    for log in evidence.all(SavedLog):
        path = folder / f"{cell}.{log.name}"
        try:
            path.write_bytes(log.data)
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            problems.append(f"{path}: not written ({exc.strerror or exc})")
    return problems


@dataclass(frozen=True)
class Written:
    """Where a result went: the results folder, a fallback (``problem`` says why), or nowhere."""

    path: Path | None
    problem: str = ""

    def line(self) -> str:
        """The one line a run prints about its result."""
        if self.path is None:
            return f"result: NOT WRITTEN: {self.problem}"
        if self.problem:
            return f"result: {self.path} (the results folder could not take it: {self.problem})"
        return f"result: {self.path}"


def write_somewhere(result: Result | dict[str, Any], folder: Path) -> Written:
    """The results folder, else a fallback folder of this run's own (``fallback_bases``):
    evidence of a node already disrupted is never lost to a full disk or a folder in the way."""
    cell = result.cell if isinstance(result, Result) else str(result.get("cell"))
    try:
        return Written(write(result, folder))
    except OSError as exc:
        problem = f"{folder / (cell + '.json')}: {exc.strerror or exc}"
    tried = [problem]
    for base in fallback_bases():
        try:
            return Written(write(result, _own_folder(base, cell)), problem)
        except OSError as exc:
            tried.append(f"{base}: {exc.strerror or exc}")
    return Written(None, "; ".join(tried))


def fallback_bases() -> list[Path]:
    """``$XDG_STATE_HOME/lrmatrix/results`` when set, then /var/tmp and /tmp: with luck one is on
    another filesystem than the full one."""
    xdg = os.environ.get("XDG_STATE_HOME")
    return [*([Path(xdg) / "lrmatrix" / "results"] if xdg else []), *FALLBACK_BASES]


def _own_folder(base: Path, cell: str) -> Path:
    """A new folder under ``base`` for this run (a results folder of its own, read by report and
    compare as any other); ``base`` must be ours, not a link another user left in /var/tmp."""
    base.mkdir(parents=True, exist_ok=True)
    st = base.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise OSError(errno.EPERM, "not a folder of this user")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{cell}-{stamp}-", dir=base))


def check_target(folder: Path, cell: str) -> None:
    """Before anything changes: ``<cell>.json`` must be a file or absent (a folder in its way
    would take the result of a disrupted node to the fallback place)."""
    path = folder / f"{cell}.json"
    if path.is_dir():
        raise BadInput(
            f"--results-dir {folder}: {path.name} is a folder; remove it or pass another --results-dir"
        )


class _NotFinite:
    """NaN, Infinity or a number too large for a float, as parsed: kept so the key can be named."""

    def __init__(self, text: str) -> None:
        self.text = text


def read_json(path: Path) -> Any:
    """A JSON document from a regular file, or one line saying why not (exit 2: exit 1 means
    "regression"). Python's json takes NaN and Infinity; a result never holds them."""
    raw = documents.read_regular(path, MAX_BYTES, READ_FIX)
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not a result (not UTF-8 text: byte {exc.start}); {READ_FIX}") from exc
    odd: list[_NotFinite] = []

    def not_finite(text: str) -> _NotFinite:
        odd.append(_NotFinite(text))
        return odd[-1]

    def number(text: str) -> float | _NotFinite:
        value = float(text)
        return value if math.isfinite(value) else not_finite(text)

    try:
        data = json.loads(text, parse_constant=not_finite, parse_float=number)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is a 5,000-digit int
        if isinstance(exc, json.JSONDecodeError):
            what = f"{exc.msg} at line {exc.lineno}"
        else:
            what = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
        raise BadInput(f"{path}: not JSON or truncated ({what}); pass a result lrmatrix wrote") from exc
    if odd:
        key = next(k for k, v, _ in documents.walk(data) if isinstance(v, _NotFinite))
        raise BadInput(
            f"{path}: {key or 'the document'} is {odd[0].text}, not a finite number; "
            "pass a result lrmatrix wrote"
        )
    return data


def load(path: Path) -> Result:
    """One result file, as the model every reader uses."""
    return validate(read_json(path), path)


#: the schema ids this lrmatrix reads
READERS = (SCHEMA, v1.SCHEMA)


def validate(data: Any, path: Path) -> Result:
    """The checks every reader relies on, in one place: an object of a schema this lrmatrix
    reads, a cell name, every key of the type the model says."""
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a result object")
    schema = data.get("schema")
    if schema not in READERS:
        raise BadInput(
            f"{path}: schema {schema!r} is not {SCHEMA!r} (or {v1.SCHEMA!r}); "
            "re-run the cell with this lrmatrix version"
        )
    if not isinstance(data.get("cell"), str) or not CELL_NAME.match(data["cell"]):
        raise BadInput(
            f"{path}: cell {shown(data.get('cell'))} is not a cell name; not a result this lrmatrix wrote"
        )
    try:
        return v1.read(data) if schema == v1.SCHEMA else parse(data)
    except ValidationError as exc:
        raise BadInput(f"{path}: {said(exc)}; not a result this lrmatrix wrote") from exc


def expand(paths: Iterable[Path]) -> list[tuple[Path, bool]]:
    """(file, found in a folder or by a pattern): files as given, each folder's ``*.json`` and
    each pattern's matches (sorted). Named as given: a link to /dev/zero is refused by its name."""
    found: dict[Path, tuple[Path, bool]] = {}  # by the real path: the same file named twice is read once

    def add(f: Path, in_folder: bool) -> None:
        found.setdefault(f.resolve(), (f, in_folder))

    for p in paths:
        if p.is_dir():
            for f in sorted(p.glob("*.json")):
                add(f, True)
        elif p.exists() or p.is_symlink():
            found[p.resolve()] = (p, False)  # named: read as a result even if a folder had it
        elif any(ch in str(p) for ch in "*?["):  # a pattern, e.g. results/engine26-*.json
            matches = sorted(Path(p.anchor or ".").glob(str(p.relative_to(p.anchor)) if p.anchor else str(p)))
            if not matches:
                raise BadInput(f"{p}: no file matches this pattern")
            for f in matches:
                add(f, True)
        else:
            raise BadInput(f"{p}: no such file or folder")
    return list(found.values())


def other_lrmatrix_document(data: Any) -> bool:
    """Another document lrmatrix writes into results folders (an ssh run's changes record, a
    compare output), recognised by its own schema; a folder's other JSON must be a result."""
    schema = data.get("schema", "") if isinstance(data, dict) else ""
    return (
        isinstance(schema, str)
        and schema.startswith("lrmatrix.")
        and not schema.startswith("lrmatrix.result/")
    )


def load_many(paths: Iterable[Path], newest: bool = False) -> list[Result]:
    """Load results; two for the same cell is an error unless ``newest`` picks the later one."""
    by_cell: dict[str, tuple[Path, Result]] = {}
    for path, in_folder in expand(paths):
        raw = read_json(path)
        if in_folder and other_lrmatrix_document(raw):
            continue
        result = validate(raw, path)
        cell = result.cell
        if cell in by_cell:
            if not newest:
                raise BadInput(
                    f"two results for cell {cell}: {by_cell[cell][0]} and {path}; "
                    "pass one, or --newest to take the later run"
                )
            if result.started_at <= by_cell[cell][1].started_at:
                continue
        by_cell[cell] = (path, result)
    return [r for _, r in by_cell.values()]
