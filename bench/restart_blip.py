"""Why the node path blips right after dockerd starts with live-restore: sample the engine
node's NAT table and one HTTP request in a tight loop while dockerd starts, and print every
change. On Docker 20.10 the DOCKER chain is deleted and re-created (its DNAT rules are gone
for ~0.2 s) before the API answers.

    sudo .venv/bin/python bench/restart_blip.py
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # test code: engine_live

from engine_live import live_restore_node
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.evidence.probe import Target, new_session, request_once
from lrmatrix.workload import image
from lrmatrix.workload.containers import ENDPOINTS, Workload


def sample(node: EngineNode, url: str, stop: threading.Event, out: list[tuple[float, int, bool]]) -> None:
    session = new_session()
    deadline = time.monotonic() + 30  # bounded whatever happens
    while not stop.is_set() and time.monotonic() < deadline:
        rules = subprocess.run(
            ["nsenter", f"--net={node.loopback_netns()}", "iptables", "-t", "nat", "-S", "DOCKER"],
            capture_output=True,
            text=True,
            check=False,
        )
        dnat = sum("DNAT" in line for line in rules.stdout.splitlines()) if rules.returncode == 0 else -1
        out.append((time.monotonic(), dnat, request_once(session, Target(url, ENDPOINTS[1].expect), 0.3).ok))


def main() -> None:
    with live_restore_node() as node:
        workload = Workload(node, image.image_tag(), config_dir=node.work_dir)
        workload.deploy()
        time.sleep(1)
        node.stop_daemon("SIGTERM")
        samples: list[tuple[float, int, bool]] = []
        stop = threading.Event()
        thread = threading.Thread(
            target=sample, args=(node, f"http://{node.address}:8081/health", stop, samples)
        )
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        node.start_daemon()
        api = time.monotonic() - started
        time.sleep(1)
        stop.set()
        thread.join()
        last = None
        for t, dnat, ok in samples:
            if (dnat, ok) != last:
                rules = "no DOCKER chain" if dnat < 0 else f"{dnat} DNAT rules"
                print(f"{t - started:+.3f}s  {rules:<16} HTTP {'ok' if ok else 'failed'}")
                last = (dnat, ok)
        print(f"+{api:.3f}s  the API answers")


if __name__ == "__main__":
    main()
