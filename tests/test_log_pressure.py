"""The survival horizon's parts: the stdout-chain gauge, the stall watch and the log rate.

Unit tests feed the gauge's own JSON shape; the integration tests run a writer container on a
real engine node with live-restore and stop its dockerd, so a stall really happens (or not).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import engine_ready
from engine_live import live_restore_node
from lrmatrix.deadline import poll
from lrmatrix.evidence import log_pressure, stdout_pipes
from lrmatrix.evidence.records import Deployed
from lrmatrix.matrix.model import Timings
from lrmatrix.run import background
from lrmatrix.run.actions import workload
from lrmatrix.run.clock import RunClock
from lrmatrix.run.context import Running
from lrmatrix.workload import image
from prereqs import needs

LINE = 100


def gauge_json(wchan: str, writing: str) -> str:
    """The gauge's output for a container (pid 42, nginx worker 43) with a full stdout chain."""
    return json.dumps(
        {
            "42": {
                "procs": {
                    "42": {"wchan": "sigsuspend", "writing": ""},
                    "43": {"wchan": wchan, "writing": writing},
                },
                "shim": "containerd-shim",
                "streams": {
                    "stdout": [
                        {"what": "pipe:[1]", "capacity": 65536, "queued": 52992},
                        {"what": "/x/init-stdout", "capacity": 65536, "queued": 53188},
                    ],
                    "stderr": [{"what": "pipe:[2]", "error": "Permission denied"}],
                },
            }
        }
    )


def test_a_writer_blocked_in_a_write_into_its_stdout_pipe_is_a_stall():
    gauge = stdout_pipes.parse(gauge_json("anon_pipe_write", "pipe:[1]"))[42]
    assert gauge.streams["stdout"].capacity == 131072
    assert "stderr" not in gauge.streams  # a hop that could not be measured is not guessed
    seen = log_pressure.blocked_write(gauge)
    assert "pid 43 blocked writing its stdout (anon_pipe_write)" in seen
    assert "106180 B queued in its 2-hop chain of 131072 B" in seen


@pytest.mark.parametrize(
    ("wchan", "writing"),
    [("do_epoll_wait", ""), ("anon_pipe_write", "pipe:[99]"), ("do_epoll_wait", "pipe:[1]")],
    ids=["idle", "blocked-on-another-pipe", "writing-but-not-waiting"],
)
def test_no_stall_is_claimed_without_a_writer_blocked_on_the_chain(wchan, writing):
    assert log_pressure.blocked_write(stdout_pipes.parse(gauge_json(wchan, writing))[42]) == ""


@pytest.mark.parametrize(
    ("lines", "usable"),
    [
        ((100,), 32 * 4000),
        ((1104,), 32 * 3312),
        ((), 131072),
        ((5000,), 16 * 5000),  # two pages a write; the next never fits in the 3192 B left
        ((1104, 100, 100), 32 * 3912),  # a page: three of each, then 184 B too few for a 1104
    ],
    ids=["100B", "1.1kB", "nothing-written", "5kB", "mixed"],
)
def test_a_chain_takes_whole_pages_so_long_lines_use_less_of_it(lines, usable):
    # measured on Docker 20.10: 100 B lines stalled with 64000 + 62700 B queued, 1.1 kB lines
    # with 52992 + 53188 B (the integration test below and the logflood cell)
    assert log_pressure.usable(131072, lines) == usable


def test_predicted_horizon_is_capacity_over_rate_and_only_when_both_are_known():
    assert log_pressure.predict(2900.0, 131072) == 45.2
    assert log_pressure.predict(0.0, 131072) is None
    assert log_pressure.predict(2900.0, None) is None


# --- on a real engine node ---------------------------------------------------------------
def on_engine_node(test):
    """Marks a test that needs root and docker.io (skipped, with the reason, elsewhere)."""
    return pytest.mark.integration(needs(engine_ready())(test))


def writer(node, name: str, lines: int) -> int:
    """A container that writes ``lines`` lines of 100 bytes to stdout once /tmp/go exists,
    counting them in /tmp/n; returns its PID."""
    payload = "x" * (LINE - 1)
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; i=0; "
        f"while [ $i -lt {lines} ]; do echo {payload}; i=$((i+1)); echo $i > /tmp/n; done; sleep 600"
    )
    node.dockerd.cli_ok(
        "run", "-d", "--name", name, "--entrypoint", "/bin/sh", image.image_tag(), "-c", script
    )
    return int(node.dockerd.cli_ok("inspect", "-f", "{{.State.Pid}}", name).strip())


def written(pid: int) -> int:
    """Lines the writer has written; its counter file is rewritten (truncated first) after every
    line, so an empty read is retried."""

    def count() -> int | None:  # None: caught between the truncate and the write
        try:
            text = Path(f"/proc/{pid}/root/tmp/n").read_text().strip()
        except OSError:
            return -1
        return int(text) if text else None

    return poll(count, 0.5, 0.001) or -1


def settled(pid: int, quiet_s: float = 1.0, timeout: float = 15) -> int:
    """The writer's count once it has not grown for ``quiet_s``. A stall can be seen while the
    shim, slow on a loaded machine, has yet to move the pipe's lines on into the FIFO: the writer
    then goes on until the whole chain is full (1238 of 1280 lines read at once in a CI run)."""
    last = {"n": written(pid), "at": time.monotonic()}

    def still() -> int | None:
        n = written(pid)
        if n != last["n"]:
            last.update(n=n, at=time.monotonic())
        return n if time.monotonic() - last["at"] >= quiet_s else None

    return poll(still, timeout, 0.1) or last["n"]


@pytest.fixture(scope="module", params=["engine-liverestore", "engine26-liverestore"])
def live_node(request):
    """An engine node with live-restore on and the cached image loaded, on the machine's
    Docker 20.10 and on 26.1 (whose FIFOs are named differently: <id>-stdout). One per engine
    for the tests below: each writes through containers of its own names, and a node takes
    a daemon start, a restart and an image import to make."""
    with live_restore_node(request.param) as node:
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
    poll(lambda: "flood" in watch.stalls, 15, 0.2)
    watch.stop()
    stalled_lines = settled(flood)
    live_node.start_daemon()
    assert "flood" in watch.stalls, f"no stall seen in {watch.samples} samples"
    assert "quiet" not in watch.stalls  # a container that wrote nothing is never claimed
    # what it managed to write is the chain's capacity, to within one page per hop (a page the
    # shim has read part of holds fewer lines: 1238 of 1280 were seen in a loaded CI run)
    hops = len(before.streams["stdout"].hops)
    assert abs(stalled_lines * LINE - log_pressure.usable(capacity, (LINE,))) <= hops * log_pressure.PAGE
    # the daemon drains the chain on its return: the writer goes on
    assert poll(lambda: written(flood) > stalled_lines, 10, 0.1)


@on_engine_node
def test_log_rate_counts_the_bytes_the_container_wrote(live_node):
    pid = writer(live_node, "counted", 300)
    since = time.time()
    Path(f"/proc/{pid}/root/tmp/go").write_text("1")
    assert poll(lambda: written(pid) >= 300, 10, 0.05)
    # the daemon stamps a line when it reads it from the FIFO: wait until it has all of them
    logged = lambda: len(live_node.dockerd.cli_ok("logs", "counted").splitlines()) >= 300  # noqa: E731
    assert poll(logged, 10, 0.05)
    until = time.time()
    rates = log_pressure.log_rates(live_node, ["counted"], since, until)
    stdout = rates["counted"]["stdout"]
    assert stdout.bytes_per_s * (until - since) == pytest.approx(300 * LINE, rel=0.01)
    assert set(stdout.lines) == {LINE}
    assert rates["counted"]["stderr"].bytes_per_s == 0


def pressure(
    stalled: float | None, predicted: float | None, free: float | None = None
) -> log_pressure.Pressure:
    return log_pressure.Pressure(
        bytes_per_s=20000.0,
        streams={"stdout": 20000.0},
        pipe_capacity=131072,
        usable_capacity=105984,
        predicted_horizon_s=predicted,
        stalled_at_s=stalled,
        free_until_s=free if free is not None else (None if stalled is None else stalled - 0.25),
    )


def test_a_stall_near_its_prediction_confirms_the_horizon():
    assert log_pressure.stall_problems({"a": pressure(5.6, 5.3), "b": pressure(4.1, 5.3)}) == []
    # seen blocked late (a loaded machine delays the watch), but last seen writing in time
    assert log_pressure.stall_problems({"a": pressure(6.9, 5.3, free=6.4)}) == []


@pytest.mark.parametrize(
    ("stalled", "predicted", "free", "why"),
    [
        (None, 5.3, None, "never seen blocked"),
        (7.0, 5.3, None, "not within 25% of the predicted 5.3 s"),
        (3.9, 5.3, None, "not within 25%"),
        (5.0, None, None, "no horizon was predicted"),
        (7.8, 5.0, 4.0, "samples were too far apart"),
    ],
)
def test_a_stall_that_was_not_seen_or_not_predicted_does_not_confirm_it(stalled, predicted, free, why):
    problems = log_pressure.stall_problems({"a": pressure(stalled, predicted, free)})
    assert len(problems) == 1 and why in problems[0]


def test_nothing_measured_confirms_nothing():
    assert log_pressure.stall_problems({}) != []


class VirtualTime:
    """A run clock whose sleeps only move time on, so the rate window's wait is checked exactly."""

    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(round(s, 3))
        self.t += s


@pytest.mark.parametrize(
    ("min_s", "elapsed", "slept"),
    [
        (2.0, 0.3, [1.7]),  # a loaded cell: the rest of 2 s of the load before the stop
        (2.0, 3.0, []),  # the baseline was already longer: no wait
        (0.0, 0.3, []),  # the default: the baseline as it is
    ],
)
def test_the_log_rate_is_measured_over_at_least_its_window_from_when_the_load_began(
    monkeypatch, min_s, elapsed, slept
):
    time_ = VirtualTime()
    clock = RunClock(now=time_.now, sleep=time_.sleep, wall0=1000.0)
    running = Running()
    running.start(background.PROBE, background.ProbeRun(probe=None, wall0=1000.0))  # type: ignore[arg-type]
    running.start(background.LOAD, background.LoadRun(probe=None, load=None, wall0=1000.5))  # type: ignore[arg-type]
    time_.t += 0.5 + elapsed  # the load began 0.5 s after the probe; the stop comes `elapsed` later
    measured: list[tuple[float, float]] = []

    def measure(node, containers, since):
        measured.append((since, clock.wall()))
        return log_pressure.LogPressure({}, 0.01)

    monkeypatch.setattr(workload, "capture", lambda node, w, which: SimpleNamespace(containers=[]))
    monkeypatch.setattr(log_pressure, "measure", measure)
    evidence = SimpleNamespace(
        require=lambda kind: SimpleNamespace(workload=None) if kind is Deployed else None
    )
    cell = SimpleNamespace(timings=Timings(log_rate_min_s=min_s))
    ctx = SimpleNamespace(node=None, running=running, clock=clock, evidence=evidence, cell=cell)
    workload.Capture("before").run(ctx)  # type: ignore[arg-type]
    assert time_.slept == slept
    ((since, until),) = measured
    assert since == 1000.5  # from the later start: the load's, not the probe's
    assert until - since == pytest.approx(max(min_s, elapsed), abs=1e-6)
