"""The survival horizon's parts: the stdout-chain gauge, the stall watch and the log rate.

Unit tests feed the gauge's own JSON shape; the integration tests run a writer container on a
real engine node with live-restore and stop its dockerd, so a stall really happens (or not).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import engine_ready
from lrmatrix import daemon_config, image, log_pressure, stdout_pipes
from test_engine_faults import engine_node, env  # noqa: F401 - env is the shared fixture

LINE = 100


def gauge_json(queued: tuple[int, int], wchan: str) -> str:
    return json.dumps(
        {
            "42": {
                "wchan": {"42": "do_wait", "43": wchan},
                "shim": "containerd-shim",
                "streams": {
                    "stdout": [
                        {"what": "pipe:[1]", "capacity": 65536, "queued": queued[0]},
                        {"what": "/x/init-stdout", "capacity": 65536, "queued": queued[1]},
                    ],
                    "stderr": [{"what": "pipe:[2]", "error": "Permission denied"}],
                },
            }
        }
    )


def test_a_full_chain_and_a_writer_in_pipe_write_is_a_stall():
    gauge = stdout_pipes.parse(gauge_json((64000, 62700), "anon_pipe_write"))[42]
    assert gauge.streams["stdout"].capacity == 131072
    assert "stderr" not in gauge.streams  # a hop that could not be measured is not guessed
    seen = log_pressure.blocked_write(gauge)
    assert "pid 43 blocked writing its stdout (anon_pipe_write)" in seen
    assert "126700 of 131072 bytes queued" in seen


@pytest.mark.parametrize(
    ("queued", "wchan"),
    [((64000, 62700), "ep_poll"), ((1000, 0), "anon_pipe_write"), ((0, 0), "do_wait")],
    ids=["full-but-not-blocked", "blocked-but-not-full", "idle"],
)
def test_no_stall_is_claimed_without_both_signs(queued, wchan):
    assert log_pressure.blocked_write(stdout_pipes.parse(gauge_json(queued, wchan))[42]) == ""


def test_predicted_horizon_is_capacity_over_rate_and_only_when_both_are_known():
    assert log_pressure.predict(2900.0, 131072) == 45.2
    assert log_pressure.predict(0.0, 131072) is None
    assert log_pressure.predict(2900.0, None) is None


# --- on a real engine node ---------------------------------------------------------------
def on_engine_node(test):
    """Marks a test that needs root and docker.io (skipped, with the reason, elsewhere)."""
    return pytest.mark.integration(
        pytest.mark.skipif(engine_ready() is not None, reason=str(engine_ready()))(test)
    )


def writer(node, name: str, lines: int) -> int:
    """A container that writes ``lines`` lines of 100 bytes to stdout once /tmp/go exists,
    counting them in /tmp/n; returns its PID."""
    payload = "x" * (LINE - 1)
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; i=0; "
        f"while [ $i -lt {lines} ]; do echo {payload}; i=$((i+1)); echo $i > /tmp/n; done; sleep 600"
    )
    node.docker_ok("run", "-d", "--name", name, "--entrypoint", "/bin/sh", image.image_tag(), "-c", script)
    return int(node.docker_ok("inspect", "-f", "{{.State.Pid}}", name).strip())


def written(pid: int) -> int:
    """Lines the writer has written; its counter file is rewritten (truncated first) after every
    line, so an empty read is retried."""
    for _ in range(50):
        try:
            text = Path(f"/proc/{pid}/root/tmp/n").read_text().strip()
        except OSError:
            return -1
        if text:
            return int(text)
        time.sleep(0.001)
    return -1


@pytest.fixture
def live_node(request):
    """An engine node with live-restore on and the cached image loaded."""
    with engine_node(request.getfixturevalue("env")) as node:
        raw = node.read_file(node.daemon_json_path)
        node.write_file(node.daemon_json_path, daemon_config.merge_live_restore(raw, True))
        node.stop_daemon("SIGTERM")
        node.start_daemon()
        node.import_image(str(image.cached_tarball()), image.image_tag(), image.CMD)
        yield node


@on_engine_node
def test_a_writer_stalls_once_its_chain_is_full_and_is_seen_blocked(live_node):
    flood = writer(live_node, "flood", 5000)  # 500 kB: far more than the chain holds
    quiet = writer(live_node, "quiet", 0)
    before = stdout_pipes.measure(live_node, [flood])[flood]
    capacity = before.streams["stdout"].capacity
    assert len(before.streams["stdout"].hops) == 2, before  # the container's pipe, then the FIFO
    assert before.streams["stdout"].queued == 0
    live_node.stop_daemon("SIGTERM")
    gone = time.monotonic()
    watch = log_pressure.StallWatch(live_node, {"flood": flood, "quiet": quiet}, gone, limit_s=15)
    watch.start()
    for pid in (flood, quiet):
        Path(f"/proc/{pid}/root/tmp/go").write_text("1")
    deadline = time.monotonic() + 15
    while "flood" not in watch.stalls and time.monotonic() < deadline:
        time.sleep(0.2)
    watch.stop()
    stalled_lines = written(flood)
    live_node.start_daemon()
    assert "flood" in watch.stalls, f"no stall seen in {watch.samples} samples"
    assert "quiet" not in watch.stalls  # a container that wrote nothing is never claimed
    # what it managed to write is the chain's capacity, to within one page per hop
    assert capacity - 2 * 4096 <= stalled_lines * LINE <= capacity
    # the daemon drains the chain on its return: the writer goes on
    deadline = time.monotonic() + 10
    while written(flood) <= stalled_lines and time.monotonic() < deadline:
        time.sleep(0.1)
    assert written(flood) > stalled_lines


@on_engine_node
def test_log_rate_counts_the_bytes_the_container_wrote(live_node):
    pid = writer(live_node, "counted", 300)
    since = time.time()
    Path(f"/proc/{pid}/root/tmp/go").write_text("1")
    deadline = time.monotonic() + 10
    while written(pid) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    until = time.time()
    rates = log_pressure.log_rates(live_node, ["counted"], since, until)
    assert rates["counted"]["stdout"] * (until - since) == pytest.approx(300 * LINE, rel=0.01)
    assert rates["counted"]["stderr"] == 0
