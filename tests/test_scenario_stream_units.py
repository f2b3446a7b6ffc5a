"""The pure parts of the client-streams, log-drivers and daemon-json-changed scenarios: how a
client's end, a driver's log and a changed address are put in words, and the params each action
refuses (one line before anything runs)."""

from __future__ import annotations

import pytest

from lrmatrix.errors import NodeError
from lrmatrix.scenarios.actions.daemonconfig import ChangeDaemonJson, inside, pool_for, upper_half
from lrmatrix.scenarios.actions.logdrivers import MarkNodeTime, StartLogWriters
from lrmatrix.scenarios.actions.streams import StopStreamContainer
from lrmatrix.scenarios.checks.logdrivers import verdict
from lrmatrix.scenarios.checks.streams import client_word
from lrmatrix.scenarios.ticker import Tick, gaps, ticks


@pytest.mark.parametrize(
    ("name", "rc", "out", "err", "word"),
    [
        ("wait", None, "", "", "hung"),
        ("logs", "1", "tick 1", "unexpected EOF\n", "eof"),
        ("wait", "0", "137\n", "", "exit 137"),
        ("attach", "0", "tick 9\n", "", "ended"),
        ("events", "1", "", "permission denied\n", "error 1"),
    ],
)
def test_client_word(name, rc, out, err, word):
    assert client_word(name, rc, out, err) == word


def test_ticks_and_gaps():
    seen = ticks("tick 0 10.00 5.0\nnoise\ntick 1 10.20 5.1\ntick 3 10.60 5.2\n")
    assert seen == [Tick(0, 10.0), Tick(1, 10.2), Tick(3, 10.6)]
    assert gaps(seen) == [(1, 3)]


def _run(start: float, end: float, skip: int | None = None) -> list[Tick]:
    n = int((end - start) / 0.2)
    return [Tick(i, start + i * 0.2) for i in range(n) if i != skip]


@pytest.mark.parametrize(
    ("seen", "running", "word"),
    [
        (_run(0, 20), True, "readable"),
        (_run(0, 20), False, "container exited"),
        ([*_run(0, 5), Tick(100, 12.0), Tick(101, 12.2)], True, "lost while down"),
        (_run(0, 20, skip=40), True, "gap"),
        (_run(0, 9), True, "stream ended"),
    ],
)
def test_log_verdict_both_ways(seen, running, word):
    assert verdict(seen, down=5.0, up=10.0, running=running) == word


def test_upper_half_and_pool_stay_in_the_projects_range():
    assert upper_half("198.19.3.1/24") == "198.19.3.129/25"
    assert pool_for("198.18.3.2") == "198.19.131.0/24"
    assert inside("198.19.131.0/24") == "198.19.131.0/24"
    with pytest.raises(NodeError, match=r"outside 198\.18\.0\.0/15"):
        inside("172.17.0.1/16")
    with pytest.raises(NodeError, match="no pool of its own"):
        pool_for("198.18.200.2")
    with pytest.raises(NodeError, match="too small"):
        upper_half("198.19.3.1/30")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: StopStreamContainer(grace_s=10, bound_s=5), "grace_s"),
        (lambda: StartLogWriters(drivers=[]), "at least one"),
        (lambda: StartLogWriters(drivers=["local", "local"]), "each once"),
        (lambda: StartLogWriters(drivers=["local; rm"]), "no log driver name"),
        (lambda: MarkNodeTime(label="later"), "'down' or 'up'"),
        (lambda: ChangeDaemonJson(), "at least one"),
    ],
)
def test_actions_refuse_bad_params(make, message):
    with pytest.raises(ValueError, match=message):
        make()
