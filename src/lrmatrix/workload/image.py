"""Images built offline from the machine's own Debian packages (recipes), cached on disk.

Nodes without a registry cannot pull nginx:alpine. A recipe's server binary plus the
libraries it links and a static busybox (for ``sh`` and ``docker exec``) make a 10-25 MB root
filesystem that builds in seconds from the configured apt mirror; every later cell only
imports it. The recipes ship in the package: ``nginx`` (the seed's) and ``redis``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from lrmatrix import cache, scratch
from lrmatrix.errors import EnvironmentProblem
from lrmatrix.process import missing_commands, run
from lrmatrix.run import setup_steps

BUSYBOX_APPLETS = ("sh", "cat", "ls", "ps", "sleep", "true", "kill", "echo", "cp", "grep")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"  # noqa: S105 (the image's /etc/passwd, not a secret)
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class Recipe:
    """One offline image: the Debian packages of its root filesystem and how it starts."""

    name: str
    #: each entry: the package, or its names across releases (Debian 13 / Ubuntu 24.04 renamed
    #: libssl3 to libssl3t64 in the 64-bit time_t transition), first one the mirror knows wins
    packages: tuple[tuple[str, ...], ...]
    cmd: str  # the image's CMD, JSON
    binary: str  # the file its main package must provide
    dirs: tuple[str, ...]
    version: str = "1"  # bump when the root filesystem layout changes


NGINX = Recipe(
    "nginx",
    (
        ("nginx",),
        ("libc6",),
        ("libcrypt1",),
        ("libpcre2-8-0",),
        ("libssl3t64", "libssl3"),
        ("zlib1g",),
        ("busybox-static",),
    ),
    '["/usr/sbin/nginx","-g","daemon off;"]',
    "usr/sbin/nginx",
    ("etc/nginx", "var/log/nginx", "var/lib/nginx", "run", "tmp", "usr/share/nginx/html", "root"),
)
#: Debian's redis-server is a symlink into redis-tools' binary, which links jemalloc (C++),
#: lzf, OpenSSL and libsystemd (and what that links)
REDIS = Recipe(
    "redis",
    (
        ("redis-server",),
        ("redis-tools",),
        ("libc6",),
        ("libatomic1",),
        ("libjemalloc2",),
        ("libstdc++6",),
        ("libgcc-s1",),
        ("liblzf1",),
        ("libssl3t64", "libssl3"),
        ("libsystemd0",),
        ("libcap2",),
        ("libgcrypt20",),
        ("libgpg-error0",),
        ("liblz4-1",),
        ("liblzma5",),
        ("libzstd1",),
        ("busybox-static",),
    ),
    '["/usr/bin/redis-server","--protected-mode","no"]',
    "usr/bin/redis-server",
    ("etc/redis", "var/lib/redis", "run", "tmp", "root", "data"),
)
RECIPES = {r.name: r for r in (NGINX, REDIS)}
#: where ``plan --commands`` shows a recipe's tarball: it is built (or found) in the cache first
TARBALL_NOTE = "<the cached image tarball: uploaded first, and removed after, to a node elsewhere>"
#: the seed's recipe, the default of every function here
PACKAGES, CMD = NGINX.packages, NGINX.cmd
#: the build's scratch folder (root filesystem, .debs, the tarball before it is published),
#: in the cache folder so that publishing is one rename
SCRATCH = ".build-"
RECORD = "images.json"  # {"sha256": {tarball name: hash}}, written when a tarball is built


def cache_dir() -> Path:
    return cache.root() / "images"


def recipe_key(recipe: Recipe = NGINX) -> str:
    names = ",".join("|".join(alternatives) for alternatives in recipe.packages)
    return hashlib.sha256(f"{recipe.version}:{names}".encode()).hexdigest()[:12]


def image_tag(recipe: Recipe = NGINX) -> str:
    return f"lrmatrix/{recipe.name}:{recipe_key(recipe)}"


def cached_tarball(recipe: Recipe = NGINX) -> Path:
    """The root filesystem tarball, built once (under a lock, so parallel cells share it) and
    used while it matches the hash recorded at its build; built again, with one line saying
    why, when it does not (truncated, on a tar boundary or mid-file, or replaced)."""
    folder = cache.folder("images")
    target = folder / f"{recipe.name}-{recipe_key(recipe)}.tar"
    if _unusable(target) is None:
        return target
    with cache.locked(folder / ".lock"):
        remove_stale(locked=True)
        why = _unusable(target)
        if why is not None:
            if why != NOT_BUILT:
                print(f"lrmatrix: cached image {target}: {why}; building it again", file=sys.stderr)
            build(target, recipe)
    return target


#: ``_unusable``'s answer for a tarball never built: no line
NOT_BUILT = "not built"


def _unusable(target: Path) -> str | None:
    """Why the cached tarball cannot be used; None when it matches its recorded hash."""
    if not target.exists():
        return NOT_BUILT
    try:
        recorded = json.loads((target.parent / RECORD).read_text())["sha256"][target.name]
    except (OSError, ValueError, KeyError, TypeError):
        return "no hash was recorded when it was built"
    return cache.mismatch(target.parent, {target.name: recorded})


def remove_stale(locked: bool = False) -> list[Path]:
    """Scratch folders of builds whose process is gone; holding the cache's lock (``locked``)
    also the half-written tarballs an older lrmatrix left (it wrote them only under that lock)."""
    removed = scratch.remove_stale(cache_dir(), SCRATCH)
    if locked:
        for partial in (p for r in RECIPES for p in cache_dir().glob(f"{r}-*.partial")):
            partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def build(target: Path, recipe: Recipe = NGINX) -> None:
    missing = missing_commands({"apt-get": "apt", "dpkg-deb": "dpkg"})
    if missing:
        raise EnvironmentProblem(
            f"building the offline {recipe.name} image needs apt-get and dpkg-deb "
            "(Debian/Ubuntu); or pass --image with an image the node can pull"
        )
    with scratch.folder(target.parent, SCRATCH) as tmp:
        setup_steps.reached("image-build-folder-made")
        debs, root = tmp / "debs", tmp / "root"
        debs.mkdir()
        argv = ["apt-get", "download", "-o", "APT::Sandbox::User=root", *resolve_packages(recipe)]
        res = run(argv, timeout=300, cwd=str(debs))
        if res.returncode != 0:
            raise EnvironmentProblem(
                f"apt-get download failed: {res.stderr.strip()[-300:]}; "
                "run `apt-get update` and check the apt mirror"
            )
        versions = {}
        for deb in sorted(debs.glob("*.deb")):
            extracted = run(["dpkg-deb", "-x", str(deb), str(root)], timeout=120)
            if extracted.returncode != 0:
                raise EnvironmentProblem(f"dpkg-deb -x {deb.name} failed: {extracted.stderr.strip()}")
            name, version = deb.name.split("_")[:2]
            versions[name] = version.replace("%3a", ":")
        _finish_rootfs(root, versions, recipe)
        made = tmp / target.name
        with tarfile.open(made, "w") as tar:
            tar.add(root, arcname=".")
        setup_steps.reached("image-tarball-written")
        _record(target, cache.sha256(made))
        made.replace(target)


def _record(target: Path, digest: str) -> None:
    """The tarball's hash, beside those of other recipes' tarballs in the same folder."""
    path = target.parent / RECORD
    try:
        hashes = dict(json.loads(path.read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        hashes = {}
    cache.write_json(path, {"sha256": {**hashes, target.name: digest}})


def resolve_packages(recipe: Recipe = NGINX) -> list[str]:
    """The first name of each entry that the configured apt mirror has (one apt-cache call)."""
    names = [n for alternatives in recipe.packages for n in alternatives]
    available, current = set(), None
    for line in run(["apt-cache", "policy", *names], timeout=60).stdout.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:") and "(none)" not in line:
            available.add(current)
    chosen = []
    for alternatives in recipe.packages:
        found = next((n for n in alternatives if n in available), None)
        if found is None:
            raise EnvironmentProblem(
                f"the apt mirror has none of {', '.join(alternatives)}; run `apt-get update`, or pass --image"
            )
        chosen.append(found)
    return chosen


def _finish_rootfs(root: Path, versions: dict[str, str], recipe: Recipe) -> None:
    if not (root / recipe.binary).exists():
        raise EnvironmentProblem(f"the {recipe.name} packages did not provide /{recipe.binary}")
    for folder in recipe.dirs:
        (root / folder).mkdir(parents=True, exist_ok=True)
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    for applet in BUSYBOX_APPLETS:
        link = bin_dir / applet
        if not link.exists():
            link.symlink_to("/bin/busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/lrmatrix-image.json").write_text(json.dumps(versions, indent=2, sort_keys=True))
    shutil.rmtree(root / "usr/share/doc", ignore_errors=True)
    shutil.rmtree(root / "usr/share/man", ignore_errors=True)
