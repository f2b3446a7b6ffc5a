"""``lrmatrix init [DIR]``: a repository of your own, laid out as the design's.

``tox.ini`` (one env per cell through lrmatrix's tox plugin), ``matrix/`` (the package's
default matrix, every cell and its comments), ``infra_tests/`` (one example check per phase),
``manifests/`` (the default Kubernetes workload) and ``workloads/`` (image tarballs). Nothing
is overwritten: if any of them exists, nothing is written at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lrmatrix import __version__
from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import DEFAULT_MATRIX

SCAFFOLD = Path(__file__).resolve().parent.parent / "scaffold"
#: what a repository of your own holds at its top, in the order it is said
LAYOUT = ("tox.ini", "matrix", "infra_tests", "manifests", "workloads")
MATRIX_HEADER = (
    "# Your matrix: lrmatrix init {version} copied the default one. Every cell is a tox env of the\n"
    "# same name (`tox l`); edit, add or remove cells here. docs/your-repository.md tells how.\n"
)


def register(sub: Any) -> None:
    """Add ``init`` to the CLI's subcommands (``sub`` is argparse's subparsers object)."""
    p = sub.add_parser("init", help="scaffold a repository of your own: tox.ini, matrix/, infra_tests/, ...")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where (default: here)")
    p.set_defaults(func=cmd_init)


def files() -> dict[str, bytes]:
    """Every file ``init`` writes, by its path in the new repository."""
    out = {"tox.ini": (SCAFFOLD / "tox.ini").read_text().replace("{version}", __version__).encode()}
    # with its subfolders: the shipped redis workload's files (matrix/workloads/redis/)
    for path in sorted(DEFAULT_MATRIX.rglob("*")):
        name = path.relative_to(DEFAULT_MATRIX).as_posix()
        if path.is_file() and name != "README.md":  # the checkout's, linking to its docs
            out[f"matrix/{name}"] = path.read_bytes()
    header = MATRIX_HEADER.format(version=__version__).encode()
    out["matrix/matrix.toml"] = header + out["matrix/matrix.toml"]
    for path in sorted((DEFAULT_MATRIX.parent / "manifests").iterdir()):
        out[f"manifests/{path.name}"] = path.read_bytes()
    for folder in ("infra_tests", "workloads"):
        for path in sorted((SCAFFOLD / folder).iterdir()):
            if path.is_file():
                out[f"{folder}/{path.name}"] = path.read_bytes()
    return out


def scaffold(target: Path) -> list[str]:
    """Write the layout into ``target``; refused (nothing written) if any part of it exists."""
    if target.exists() and not target.is_dir():
        raise BadInput(f"{target} is not a folder; name a new or existing folder")
    taken = [name for name in LAYOUT if (target / name).exists() or (target / name).is_symlink()]
    if taken:
        raise BadInput(
            f"{target / taken[0]} already exists; lrmatrix init overwrites nothing: run it in a folder "
            f"without {', '.join(LAYOUT)}"
        )
    wanted = files()
    for rel, data in wanted.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as f:  # exclusive: never over something made meanwhile
            f.write(data)
    return list(wanted)


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    written = scaffold(target)
    print(f"lrmatrix init: {len(written)} files in {target.resolve()}:")
    for name in LAYOUT:
        print(f"  {name}{'/' if name != 'tox.ini' else ''}")
    print(f"next: cd {args.dir} && tox l && tox -e engine-liverestore   (root; docs/your-repository.md)")
    return 0
