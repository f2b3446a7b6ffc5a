"""The run-to-run spread of what `lrmatrix compare` gates on, from result files of repeated
runs of one cell: the node path's longest outage, its recovery after the API answered, its
failed share of the down time. `compare`'s default tolerance floor is taken from it
(report/compare.py): the largest spread of outage and recovery over the plain engine cells,
rounded up to the next 50 ms.

    sudo flock /tmp/lrm-integration.lock .venv/bin/python bench/probe_accuracy.py \\
        engine-liverestore engine-noliverestore --runs 10 --keep /tmp/spread
    .venv/bin/python bench/outage_spread.py /tmp/spread
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path


def main() -> None:
    runs: dict[str, list[dict]] = defaultdict(list)
    for folder in sys.argv[1:]:
        for path in sorted(Path(folder).glob("**/results/*.json")):
            result = json.loads(path.read_text())
            runs[result["cell"]].append(result["probes"]["node"])
    widest = 0.0
    for cell, nodes in sorted(runs.items()):
        figures = {
            "longest_outage_ms": [n["longest_outage_ms"] for n in nodes],
            "recovery_ms": [n["recovery_s"] * 1000 for n in nodes if n.get("recovery_s") is not None],
            "down_failed_pct": [100 * (n.get("down_failed_share") or 0.0) for n in nodes],
        }
        for name, values in figures.items():
            if not values:
                continue
            spread = max(values) - min(values)
            if name != "down_failed_pct":
                widest = max(widest, spread)
            print(
                f"{cell:24} {name:18} n={len(values):2} min={min(values):8.1f} "
                f"max={max(values):8.1f} spread={spread:7.1f}"
            )
    print(f"largest spread of outage and recovery: {widest:.1f} ms -> floor {math.ceil(widest / 50) * 50} ms")


if __name__ == "__main__":
    main()
