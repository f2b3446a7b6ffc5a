"""Benchmark the offline nginx image: the first (cold) build, the cached path a cell's first
use takes (the tarball checked against the SHA-256 recorded at the build), and the cached
path after that in the same process. Target: the first build in under 60 s on a 2-core machine.

    sudo .venv/bin/python bench/image_build.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from lrmatrix import cache
from lrmatrix.workload import image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cold, verified, warm = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="lrm-imgbench-") as folder:
            os.environ["LRMATRIX_CACHE_DIR"] = folder
            start = time.monotonic()
            path = image.cached_tarball()
            cold.append(time.monotonic() - start)
            cache._verified.clear()  # as in a new process
            start = time.monotonic()
            image.cached_tarball()
            verified.append(time.monotonic() - start)
            start = time.monotonic()
            image.cached_tarball()
            warm.append(time.monotonic() - start)
            size = path.stat().st_size
    print(f"image {image.image_tag()}: {size / 1e6:.1f} MB tarball, {args.runs} runs   min   median   max")
    rows = (
        ("cold build (apt-get download + extract)", cold),
        ("cached, hash checked", verified),
        ("cached", warm),
    )
    for label, values in rows:
        print(f"  {label:<40} {min(values):7.3f} {statistics.median(values):7.3f} {max(values):7.3f} s")


if __name__ == "__main__":
    main()
