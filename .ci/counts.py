"""How many tests a CI run ran, per tox env and in total, from the junit XML files it wrote.

A green run that ran nothing looks like a green run: this table, printed at the end of
.ci/run, makes the number of tests that passed, failed, errored and were skipped visible.
Only files written since the run began count (a file left by an earlier run is not this one).

usage: counts.py SINCE_EPOCH_SECONDS FILE... (exit 2 on bad input)
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("passed", "failed", "errors", "skipped")


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    def add(self, other: Counts) -> None:
        for name in COLUMNS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def read(path: Path) -> Counts:
    """The sums over a junit file's test suites (pytest writes one <testsuite>, maybe wrapped)."""
    root = ET.parse(path).getroot()  # noqa: S314 (a junit file this run's pytest wrote)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    found = Counts()
    for suite in suites:
        keys = ("tests", "failures", "errors", "skipped")
        tests, failed, errors, skipped = (int(suite.get(k, "0")) for k in keys)
        found.add(Counts(tests - failed - errors - skipped, failed, errors, skipped))
    return found


def table(rows: dict[str, Counts]) -> str:
    total = Counts()
    for counts in rows.values():
        total.add(counts)
    width = max([len("total"), *(len(name) for name in rows)])
    lines = [f"{'env':<{width}}" + "".join(f"{c:>9}" for c in COLUMNS)]
    for name, counts in [*sorted(rows.items()), ("total", total)]:
        lines.append(f"{name:<{width}}" + "".join(f"{getattr(counts, c):>9}" for c in COLUMNS))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        since = float(argv[0])
    except (IndexError, ValueError):
        print("usage: counts.py SINCE_EPOCH_SECONDS FILE...", file=sys.stderr)
        return 2
    rows: dict[str, Counts] = {}
    for name in argv[1:]:
        path = Path(name)
        if path.is_file() and path.stat().st_mtime >= since:
            try:
                rows[path.stem] = read(path)
            except (ET.ParseError, ValueError) as exc:
                print(f"counts: {path} is not a junit file pytest wrote: {exc}", file=sys.stderr)
                return 2
    print(f"tests that ran (junit XML of {len(rows)} envs):")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
