"""Docker engine versions as data: Debian's docker.io and containerd of another suite, fetched
into a cache and run from there, so the engine is an axis of the matrix like Kubernetes.

The machine's apt configuration is never touched: apt gets a private sources list naming
the wanted suite on the machine's own Debian mirror, and private lists and cache folders.
Packages are downloaded and unpacked with ``dpkg-deb -x``, never installed. An unpacked
engine counts only once its binaries have answered ``--version`` here; runc stays the
machine's (Debian 13's needs a newer glibc than Debian 12 has).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from lrmatrix import cache, scratch
from lrmatrix.errors import BadInput, EnvironmentProblem, LrmatrixError
from lrmatrix.process import missing_commands, run

MACHINE = "machine"
#: binary -> (package, path inside it); each must answer ``--version`` before the engine counts
BINARIES: dict[str, tuple[str, str]] = {
    "dockerd": ("docker.io", "usr/sbin/dockerd"),
    "containerd": ("containerd", "usr/bin/containerd"),
    "runc": ("runc", "usr/sbin/runc"),
}
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
RECORD = "engine.json"
#: scratch folders of a fetch and of a .deb download, beside what they make
FETCH_SCRATCH, DEBS_SCRATCH = ".fetch-", ".debs-"
GLIBC_MISSING = re.compile(r"GLIBC_(\d+\.\d+)' not found")


@dataclass(frozen=True)
class Engine:
    """One ``[engines.<name>]`` table: exact Debian versions, so a run is reproducible."""

    name: str
    suite: str = ""
    docker: str = ""  # Debian version of docker.io, e.g. 26.1.5+dfsg1-9+deb13u1+b1
    containerd: str = ""
    runc: str = ""  # optional: only if the suite's runc runs here

    @property
    def is_machine(self) -> bool:
        return self.name == MACHINE

    @property
    def version(self) -> str:
        """The upstream Docker version (the cache folder's name), or ``machine``."""
        return MACHINE if self.is_machine else upstream(self.docker)

    def packages(self) -> dict[str, str]:
        pins = {"docker.io": self.docker, "containerd": self.containerd, "runc": self.runc}
        return {pkg: version for pkg, version in pins.items() if version}


MACHINE_ENGINE = Engine(MACHINE)


def upstream(debian_version: str) -> str:
    """``1:26.1.5+dfsg1-9+b1`` -> ``26.1.5``."""
    return re.split(r"[+~-]", debian_version.split(":", 1)[-1], maxsplit=1)[0]


@dataclass(frozen=True)
class Binaries:
    """Where an engine's binaries are; ``root`` None: the machine's own, found on PATH."""

    engine: Engine
    root: Path | None = None

    def env(self) -> dict[str, str]:
        """PATH with the engine first: dockerd finds containerd, its shim, docker-proxy and runc
        there, and the machine's runc after it."""
        if self.root is None:
            return {}
        dirs = [str(self.root / "usr/sbin"), str(self.root / "usr/bin")]
        return {"PATH": ":".join([*dirs, os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")])}

    def dockerd(self) -> str:
        return "dockerd" if self.root is None else str(self.root / BINARIES["dockerd"][1])

    def docker_version(self) -> str:
        """The upstream version this dockerd reports (``machine`` names no version itself)."""
        res = run([self.dockerd(), "--version"], timeout=30, env=self.env())
        found = re.search(r"Docker version ([^,\s]+)", res.stdout)
        return upstream(found.group(1)) if found else ""


def cache_dir() -> Path:
    return cache.root() / "engines"


def ensure(engine: Engine) -> Binaries:
    """The engine's binaries, fetched and verified on first use, reused after while they match
    the hashes recorded at the fetch (fetched again, with one line saying why, when not);
    one line and exit 2 (EnvironmentProblem/BadInput) when they cannot be had or run here."""
    if engine.is_machine:
        return Binaries(engine)
    folder = cache_dir() / engine.version
    if _unusable(folder, engine) is None:
        return Binaries(engine, folder)
    missing = missing_commands({"apt-get": "apt", "apt-cache": "apt", "dpkg-deb": "dpkg"})
    if missing:
        raise EnvironmentProblem(
            f"engine {engine.name} is fetched with apt-get and dpkg-deb: install {missing[0]}"
        )
    parent = cache.folder("engines")
    with cache.locked(parent / ".lock"):
        remove_stale(locked=True)
        why = _unusable(folder, engine)  # another run may have fetched it while we waited
        if why == NO_HASHES:
            why = _adopt(folder, engine)
        if why is not None:
            if why != NOT_FETCHED:
                print(f"lrmatrix: cached engine {engine.name} at {folder}: {why}; fetching it again",
                      file=sys.stderr, flush=True)  # fmt: skip
            fetch(engine, folder)
    return Binaries(engine, folder)


#: ``_unusable``'s answer for an engine never fetched (or fetched with other pins): no line
NOT_FETCHED = "not fetched"
#: an engine fetched before hashes were recorded: run once, then its hashes are recorded
NO_HASHES = "no hashes recorded"


def _unusable(folder: Path, engine: Engine) -> str | None:
    """Why the cached folder cannot be used as it is; None when it can."""
    if _recorded(folder, "packages") != engine.packages():
        return NOT_FETCHED
    hashes = _recorded(folder, "sha256")
    if not isinstance(hashes, dict) or not hashes:
        return NO_HASHES
    return cache.mismatch(folder, hashes)


def _adopt(folder: Path, engine: Engine) -> str | None:
    """An engine fetched by an lrmatrix that recorded no hashes is kept if its binaries still
    run, and its hashes are recorded now (fetching 210 MB again, and removing a folder another
    run may be starting a dockerd from, would cost more); else why not."""
    try:
        verify(engine, folder)
    except LrmatrixError as exc:
        return f"{NO_HASHES}, and {str(exc).removeprefix(f'engine {engine.name}: ')}"
    record = json.loads((folder / RECORD).read_text())
    cache.write_json(folder / RECORD, {**record, "sha256": cache.tree_hashes(folder, (RECORD,))})
    return None


def remove_stale(locked: bool = False) -> list[Path]:
    """Scratch folders of fetches whose process is gone (a SIGKILL, a power cut); holding the
    cache's lock (``locked``), also those of an lrmatrix that did not record their owner,
    which only fetched under that lock."""
    return [
        *scratch.remove_stale(cache_dir(), FETCH_SCRATCH, unowned=locked),
        *scratch.remove_stale(cache_dir() / "debs", DEBS_SCRATCH),
    ]


def _recorded(folder: Path, key: str) -> object:
    """What the folder's record says under ``key``; None for a folder not (fully) made."""
    try:
        return json.loads((folder / RECORD).read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def fetch(engine: Engine, folder: Path) -> None:
    """apt-get update + download with the private configuration, unpack, verify, record every
    file's hash, then publish the folder in one rename so a half-made engine is never used."""
    apt = _apt(engine)
    with scratch.folder(folder.parent, FETCH_SCRATCH) as tmp:
        debs, root = tmp / "debs", tmp / "root"
        pins = engine.packages()
        _download(apt, engine, pins, debs)
        for deb in sorted(debs.glob("*.deb")):
            out = run(["dpkg-deb", "-x", str(deb), str(root)], timeout=120)
            if out.returncode != 0:
                raise EnvironmentProblem(f"dpkg-deb -x {deb.name} failed: {_last_line(out.stderr)}")
        versions = verify(engine, root)
        record = {**asdict(engine), "packages": pins, "reports": versions, "sha256": cache.tree_hashes(root)}
        (root / RECORD).write_text(json.dumps(record, indent=2))
        _publish(root, folder, tmp / "old")


def _publish(made: Path, folder: Path, aside: Path) -> None:
    """``made`` becomes ``folder``; a former one is moved aside first (two renames), so a run
    starting a dockerd from it meanwhile finds one whole engine or the other."""
    if folder.exists():
        folder.rename(aside)
    made.replace(folder)


def _apt(engine: Engine) -> PrivateApt:
    apt = PrivateApt(cache_dir() / ".apt" / engine.suite, engine.suite)
    apt.update()
    return apt


def _download(apt: PrivateApt, engine: Engine, pins: dict[str, str], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    res = apt.run(["apt-get", "download", *(f"{p}={v}" for p, v in pins.items())], cwd=str(dest))
    if res.returncode != 0:
        raise apt.vanished(engine, pins) or EnvironmentProblem(
            f"engine {engine.name}: apt-get download failed: {_last_line(res.stderr)}"
        )


def debs(engine: Engine) -> list[Path]:
    """The engine's packages as a node installs them: docker.io, containerd, runc if pinned,
    and docker-cli where the suite ships the CLI apart (Debian 13 does; docker.io then needs
    it). Downloaded once into the cache, for a package-upgrade cell to stage on a node."""
    folder = cache_dir() / "debs" / engine.version
    if _recorded(folder, "engine") != asdict(engine):
        cache.folder("engines/debs")
        with cache.locked(folder.parent / ".lock"):
            if _recorded(folder, "engine") != asdict(engine):
                _download_debs(engine, folder)
    return sorted(folder.glob("*.deb"))


def _download_debs(engine: Engine, folder: Path) -> None:
    apt, pins = _apt(engine), engine.packages()
    if engine.docker in apt.available("docker-cli"):
        pins["docker-cli"] = engine.docker
    with scratch.folder(folder.parent, DEBS_SCRATCH) as tmp:
        staged = tmp / "debs"
        _download(apt, engine, pins, staged)
        (staged / RECORD).write_text(json.dumps({"engine": asdict(engine), "packages": pins}, indent=2))
        _publish(staged, folder, tmp / "old")


def verify(engine: Engine, root: Path) -> dict[str, str]:
    """Each unpacked binary's ``--version`` line; a binary that cannot run here refuses the
    engine, naming the glibc it needs when that is the reason."""
    found = {}
    for binary, (package, rel) in BINARIES.items():
        if package not in engine.packages():
            continue
        path = root / rel
        res = run([str(path), "--version"], timeout=30)
        if res.returncode == 0:
            found[binary] = _last_line(res.stdout.splitlines()[0] if res.stdout else "")
            continue
        need = GLIBC_MISSING.search(res.stderr)
        if need:
            raise EnvironmentProblem(
                f"engine {engine.name}: {binary} from {engine.suite} needs glibc {need.group(1)}, "
                f"this machine has {_machine_glibc()}; take it out of [engines.{engine.name}]"
                + (" (the machine's runc is used without it)" if binary == "runc" else "")
            )
        raise EnvironmentProblem(
            f"engine {engine.name}: {binary} from {engine.suite} does not run here: {_last_line(res.stderr)}"
        )
    return found


def _machine_glibc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or "?"
    except (ValueError, OSError):
        return "?"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


class PrivateApt:
    """apt with its own sources list, lists and cache under ``root``: one suite of the machine's
    own Debian mirror, nothing of the machine's apt state read or written."""

    def __init__(self, root: Path, suite: str) -> None:
        self.root = root
        self.suite = suite

    def options(self) -> list[str]:
        r = self.root
        return [
            *("-o", f"Dir::Etc::SourceList={r / 'sources.list'}"),
            *("-o", f"Dir::Etc::SourceParts={r / 'sources.list.d'}"),
            *("-o", f"Dir::Etc::Preferences={r / 'preferences'}"),
            *("-o", f"Dir::Etc::PreferencesParts={r / 'preferences.d'}"),
            *("-o", f"Dir::State::Lists={r / 'lists'}"),
            *("-o", f"Dir::Cache={r / 'cache'}"),
            *("-o", "Dir::State::status=/dev/null"),  # nothing counts as installed
            *("-o", "APT::Sandbox::User=root"),
            *("-o", "Acquire::Languages=none"),
        ]

    def run(self, argv: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        return run([argv[0], *self.options(), *argv[1:]], timeout=300, cwd=cwd)

    def update(self) -> None:
        for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        uri, keyring = machine_mirror()
        (self.root / "sources.list").write_text(f"deb [signed-by={keyring}] {uri} {self.suite} main\n")
        res = self.run(["apt-get", "update"])
        # apt-get update exits 0 when an index failed to download or verify: read what it says
        if res.returncode != 0 or any(w in res.stderr for w in ("E: ", "Failed to fetch", "NO_PUBKEY")):
            raise EnvironmentProblem(
                f"apt-get update of Debian {self.suite} from {uri} failed: {_last_line(res.stderr)}"
            )

    def available(self, package: str) -> list[str]:
        res = run(["apt-cache", *self.options(), "madison", package], timeout=60)
        return [parts[1].strip() for ln in res.stdout.splitlines() if len(parts := ln.split("|")) > 2]

    def vanished(self, engine: Engine, pins: dict[str, str]) -> BadInput | None:
        """A pinned version the suite no longer has (sid rolls): name what it has now."""
        for package, version in pins.items():
            now = self.available(package)
            if version not in now:
                return BadInput(
                    f"[engines.{engine.name}]: {package} {version} is no longer in Debian {engine.suite}; "
                    f"it has {', '.join(now) or 'none'} now: pin one of those in matrix.toml"
                )
        return None


def machine_mirror() -> tuple[str, str]:
    """(URI, keyring) of the machine's own Debian archive: the apt source serving its codename."""
    codename = _os_release().get("VERSION_CODENAME", "")
    for entry in _apt_sources():
        if codename and codename in entry["suites"] and entry["uri"].rstrip("/").endswith("/debian"):
            return entry["uri"], entry["signed_by"] or DEFAULT_KEYRING
    raise EnvironmentProblem(
        f"no Debian mirror for {codename or 'this release'} in /etc/apt/sources.list*: "
        "engines other than the machine's are fetched from the machine's own Debian mirror"
    )


def _os_release() -> dict[str, str]:
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip('"') for k, _, v in (ln.partition("=") for ln in lines) if k}


def _apt_sources() -> list[dict[str, str]]:
    """``deb`` entries of the one-line and deb822 formats, as {uri, suites, signed_by}."""
    etc = Path(os.environ.get("LRMATRIX_APT_ETC", "/etc/apt"))
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    found: list[dict[str, str]] = []
    for file in files:
        try:
            text = file.read_text()
        except OSError:
            continue
        if file.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (ln.partition(":") for ln in stanza.splitlines() if not ln.startswith("#"))
                    if v
                )
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                    for uri in fields.get("uris", "").split():
                        found.append(
                            {
                                "uri": uri,
                                "suites": fields.get("suites", ""),
                                "signed_by": fields.get("signed-by", ""),
                            }
                        )
        elif file.suffix == ".list":
            for line in text.splitlines():
                m = re.match(r"^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line.strip())
                if m:
                    opts = dict(o.partition("=")[::2] for o in (m.group(1) or "").split())
                    found.append(
                        {"uri": m.group(2), "suites": m.group(3), "signed_by": opts.get("signed-by", "")}
                    )
    return found
