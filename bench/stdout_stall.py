"""How much a container can write to stdout while dockerd is down, per log option.

A writer container waits for a trigger, then writes 100-byte lines to stdout, counting them
in a file. With live-restore on, dockerd is stopped, the writer is triggered, and the count
is read once it stops growing: what the stdout chain (its pipe + the shim's FIFO) took. The
stdout_pipes gauge shows where the bytes sit and which write blocked.

    sudo .venv/bin/python bench/stdout_stall.py [--engine docker26]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # test code: engine_live

from engine_live import live_restore_node
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.evidence import log_pressure, stdout_pipes
from lrmatrix.workload import image

LINE = 100
OPTIONS = {
    "default (json-file)": [],
    "--log-driver none": ["--log-driver", "none"],
    "--log-opt mode=non-blocking": ["--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=4m"],
}


def count(pid: int) -> int:
    for _ in range(100):  # the writer rewrites the file after every line: retry an empty read
        text = Path(f"/proc/{pid}/root/tmp/n").read_text().strip()
        if text:
            return int(text)
        time.sleep(0.001)
    return 0


def stalled_lines(node: EngineNode, name: str, options: list[str]) -> tuple[int, str]:
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo 0 > /tmp/n; i=0; "
        f"while [ $i -lt 100000 ]; do echo {'x' * (LINE - 1)}; i=$((i+1)); echo $i > /tmp/n; done; sleep 600"
    )
    node.dockerd.cli_ok(
        "run", "-d", "--name", name, *options, "--entrypoint", "/bin/sh", image.image_tag(), "-c", script
    )
    pid = int(node.dockerd.cli_ok("inspect", "-f", "{{.State.Pid}}", name).strip())
    node.stop_daemon("SIGTERM")
    try:
        Path(f"/proc/{pid}/root/tmp/go").write_text("1")
        last, steady_since = -1, time.monotonic()
        deadline = time.monotonic() + 20  # bounded whatever happens
        while time.monotonic() < deadline and time.monotonic() - steady_since < 1.0:
            time.sleep(0.1)
            now = count(pid)
            if now != last:
                last, steady_since = now, time.monotonic()
        gauge = stdout_pipes.measure(node, [pid]).get(pid)
        seen = log_pressure.blocked_write(gauge) if gauge else "gauge did not run"
        return last, seen
    finally:
        node.start_daemon()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--engine", default="", help="a platform's engine, e.g. engine26 (default: the machine's)"
    )
    args = ap.parse_args()
    with live_restore_node(f"{args.engine or 'engine'}-liverestore") as node:
        print(f"dockerd {node.versions()['docker']}: {LINE} B lines written while dockerd was down")
        for i, (label, options) in enumerate(OPTIONS.items()):
            lines, seen = stalled_lines(node, f"writer{i}", options)
            print(f"  {label:<30} {lines * LINE:>8} B, then: {seen or 'no blocked write seen'}")


if __name__ == "__main__":
    main()
