"""Benchmark the offline nginx image: the first (cold) build, and the cached path every later
cell takes. Target: the first build in under 60 s on a 2-core machine.

    sudo .venv/bin/python bench/image_build.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from lrmatrix.workload import image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="lrm-imgbench-") as cache:
            os.environ["LRMATRIX_CACHE_DIR"] = cache
            start = time.monotonic()
            path = image.cached_tarball()
            cold.append(time.monotonic() - start)
            start = time.monotonic()
            image.cached_tarball()
            warm.append(time.monotonic() - start)
            size = path.stat().st_size
    print(f"image {image.image_tag()}: {size / 1e6:.1f} MB tarball, {args.runs} runs   min   median   max")
    for label, values in (("cold build (apt-get download + extract)", cold), ("cached", warm)):
        print(f"  {label:<40} {min(values):7.3f} {statistics.median(values):7.3f} {max(values):7.3f} s")


if __name__ == "__main__":
    main()
