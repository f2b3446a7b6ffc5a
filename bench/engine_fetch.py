"""Benchmark fetching an engine: the first fetch into an empty cache (private apt-get update
of its suite, apt-get download, dpkg-deb -x, --version checks), the cached path a cell's
first use takes (every file checked against the SHA-256 recorded at the fetch), and the
cached path after that in the same process. Target: a first fetch in at most 60 s.

    sudo .venv/bin/python bench/engine_fetch.py --runs 3 --engines docker26 docker28
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from lrmatrix import cache
from lrmatrix.matrix import engines
from lrmatrix.matrix.cells import load_matrix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engines", nargs="+", default=["docker26", "docker28"], metavar="ENGINE")
    args = ap.parse_args()
    known = load_matrix().engines
    for name in args.engines:
        engine = known[name]
        cold, verified, warm = [], [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="lrm-enginebench-") as folder:
                os.environ["LRMATRIX_CACHE_DIR"] = folder
                start = time.monotonic()
                binaries = engines.ensure(engine)
                cold.append(time.monotonic() - start)
                cache._verified.clear()  # as in a new process
                start = time.monotonic()
                engines.ensure(engine)
                verified.append(time.monotonic() - start)
                start = time.monotonic()
                engines.ensure(engine)
                warm.append(time.monotonic() - start)
                assert binaries.root is not None
                size = sum(f.stat().st_size for f in binaries.root.rglob("*") if f.is_file())
        print(f"engine {name} ({engine.suite}: docker.io {engine.docker}, containerd {engine.containerd})")
        print(f"  unpacked {size / 1e6:.0f} MB, {args.runs} runs             min   median     max")
        rows = (("first fetch (empty cache)", cold), ("cached, hashes checked", verified), ("cached", warm))
        for label, values in rows:
            print(f"  {label:<32} {min(values):7.3f} {statistics.median(values):7.3f} {max(values):7.3f} s")


if __name__ == "__main__":
    main()
