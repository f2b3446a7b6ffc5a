"""The disruptions that run on a node of yours (package upgrade, respawn): what a package-upgrade
each command did, in words. The sampling itself runs for real in
tests/integration/test_ssh_upgrade.py; here the interpretation is checked on timelines that
a real node produces (including the ones it must not pass)."""

from __future__ import annotations

import pytest

from conftest import ROOT
from lrmatrix.cli.main import main
from lrmatrix.drivers.base import UnitMessage
from lrmatrix.evidence.disruption import disruption
from lrmatrix.evidence.findings import findings
from lrmatrix.evidence.probe import PathRecord, Sample
from lrmatrix.evidence.records import Started, Stopped, WindowEnded
from lrmatrix.evidence.store import Evidence
from lrmatrix.evidence.upgrade import Step
from lrmatrix.evidence.upgrade import UpgradeRun as Upgrade
from lrmatrix.evidence.verdict import Verdict, decide
from lrmatrix.evidence.watchers import ProcessTimeline
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.results.files import summarize_path
from lrmatrix.results.outcome import met
from lrmatrix.run.sequence import kind, sequence_for

T0 = WALL0 = 100.0


def timeline(*samples: tuple[float, list[int], list[int]]) -> ProcessTimeline:
    """Samples at t (seconds after T0) of the dockerd and containerd pids."""
    line = ProcessTimeline(node=None)  # type: ignore[arg-type]  # never sampled here
    line.samples = [(T0 + t, {"dockerd": d, "containerd": c}) for t, d, c in samples]
    return line


# apt-get (0-5 s) restarts containerd; the restart (5-6 s) replaces dockerd 10 by 30
RESTARTED = timeline(
    (0.0, [10], [20]),
    (2.0, [10], []),
    (2.1, [10], [21]),
    (5.2, [10], [21]),
    (5.4, [], [21]),
    (5.5, [30], [21]),
)


def step(command: str, start: float, end: float, *units: tuple[float, str]) -> Step:
    """A command that ran from ``start`` to ``end`` (s after T0), and systemd's unit messages."""
    return Step(command, T0 + start, T0 + end, 0, "", [UnitMessage(0, WALL0 + t, m) for t, m in units])


STEPS = [
    step(
        "apt-get install -y ./*.deb",
        0,
        5,
        (2.0, "Stopped containerd.service - c"),
        (2.05, "Started containerd.service - c"),
    ),
    step(
        "systemctl restart docker.service",
        5,
        6,
        (5.3, "Stopped docker.service - D"),
        (5.5, "Started docker.service - D"),
    ),
]


def test_a_replaced_dockerd_is_gone_at_the_first_sample_without_it():
    up = Upgrade(RESTARTED, STEPS)
    assert up.gone_at() == T0 + 5.4
    assert up.first_seen_at() == T0 + 5.5
    assert up.started_at() == T0 + 5.4  # no /proc start read: the last sample that saw none
    notes = up.findings(T0, WALL0)
    assert notes[0] == (
        "upgrade step 1 `apt-get install -y ./*.deb` (5.0 s, exit 0): containerd.service stopped and "
        "started (+2.00..+2.05s); dockerd 10 kept, containerd 20 -> 21"
    )
    assert notes[1].endswith(
        "docker.service stopped and started (+5.30..+5.50s); dockerd 10 -> 30, containerd 21 kept"
    )
    assert notes[2] == (
        "dockerd replaced by the upgrade: the old one last seen at +5.20s, the new one started at "
        "+5.40s (the last sample without it), first seen at +5.50s"
    )


@pytest.mark.parametrize(
    ("proc", "started", "how"),
    [
        ({30: 5.45}, 5.45, "its start time in /proc"),
        # a clock read a round trip off cannot put it before a scan that saw no new dockerd
        ({30: 5.3}, 5.4, "the last sample without it"),
        ({}, 5.4, "the last sample without it"),  # its /proc could not be read
        ({31: 5.45}, 5.4, "the last sample without it"),  # another pid's start is not its
    ],
)
def test_the_new_dockerd_starts_at_its_proc_start_never_before_a_sample_without_it(proc, started, how):
    """A sample sees the new dockerd up to a period and a round trip after it started; its
    /proc start time says when it did, bounded by the last scan that saw none."""
    up = Upgrade(RESTARTED, STEPS, proc_started={pid: T0 + t for pid, t in proc.items()})
    assert up.new_dockerds() == [30]
    assert up.started_at() == pytest.approx(T0 + started)
    assert up.first_seen_at() == T0 + 5.5
    said = f"the new one started at +{started:.2f}s ({how}), first seen at +5.50s"
    assert said in up.findings(T0, WALL0)[2]


def judged(
    up: Upgrade, failing: tuple[float, float], live_restore: bool = True, end: float | None = None
) -> tuple[Verdict, list[str]]:
    """The verdict and findings of a node path probed every 50 ms through ``up`` (the first
    command at T0, the API answering at +6.0 s), its requests sent within ``failing`` (s after
    T0) failing; the records made as ``PackageUpgrade`` makes them (``end``: another window end)."""
    evidence = Evidence()
    evidence.add(
        Stopped(T0, up.gone_at(), 10, "package upgrade"),
        WindowEnded(end or up.started_at() or T0 + 6.0),
        Started(T0 + 6.0, {"docker": "26.1.5"}),
    )
    d = disruption(evidence, T0)
    sent = [T0 + i * 0.05 for i in range(160)]
    samples = [
        Sample(t, 0.0, "http://n:8081/", not failing[0] <= t - T0 < failing[1], 0, 1.0, served_by="web-1")
        for t in sent
    ]
    record = PathRecord("node", samples, stopped="asked")
    summary = summarize_path(record, T0, d, 0.05)
    notes = findings({"node": summary}, d.stop_at - T0, d.start_at - T0)  # type: ignore[operator]
    return decide("survive" if live_restore else "outage", record, d, 0.05), notes


def test_failures_after_the_new_dockerd_started_are_its_restart_blip_not_an_outage():
    """The CI flake: the new dockerd's NAT rebuild failed requests before a sample first saw
    it. Counted from its /proc start they are the blip every restart has; counted from the
    first sighting they were 'failed while down' and the verdict an outage."""
    up = Upgrade(RESTARTED, STEPS, proc_started={30: T0 + 5.42})
    v, notes = judged(up, (5.43, 5.6))
    assert v.observed == "survive", v.reason
    blip = "node path failed again after dockerd started: 1 window(s)"
    assert any(n.startswith(blip) for n in notes), notes
    # the window ended at the first sighting (+5.5 s) before: the same requests, an outage
    assert judged(up, (5.43, 5.6), end=up.first_seen_at())[0].observed == "outage"
    # its /proc unread: from the last sample without it (+5.4 s), still the blip
    assert judged(Upgrade(RESTARTED, STEPS), (5.43, 5.6))[0].observed == "survive"


def test_failures_while_no_dockerd_ran_are_an_outage():
    """Between the old dockerd's exit (last seen +5.2 s) and the new one's start (+5.45 s)
    nothing ran: a request failing then is the outage live-restore should have prevented."""
    up = Upgrade(RESTARTED, STEPS, proc_started={30: T0 + 5.45})
    v, _ = judged(up, (5.24, 5.34))
    assert v.observed == "outage" and "2/" in v.reason, v.reason
    # live-restore off: the restart stops the containers before the new dockerd runs
    v, _ = judged(up, (5.25, 5.9), live_restore=False)
    assert v.observed == "outage" and met(v), v.reason


def test_a_dockerd_that_ran_throughout_was_not_restarted():
    """apt-get alone: Debian's scripts leave docker.service alone, the old dockerd answers."""
    up = Upgrade(timeline((0.0, [10], [20]), (2.1, [10], [21]), (5.2, [10], [21])), STEPS[:1])
    assert up.gone_at() is None and up.started_at() is None
    assert up.findings(T0, WALL0)[-1] == "the upgrade did not restart dockerd (pid 10 ran throughout)"


def test_no_unit_messages_is_said_not_invented():
    """A sysvinit node has no journal: the note says no unit was seen, the pids say the rest."""
    step = Step("service docker restart", T0, T0 + 1.0, 0, "", [])
    note = Upgrade(timeline((0.0, [10], [20]), (0.5, [], [20]), (0.9, [11], [20])), [step]).findings(
        T0, WALL0
    )[0]
    assert "no docker or containerd unit was stopped or started; dockerd 10 -> 11, containerd 20 kept" in note


@pytest.mark.parametrize("cell", ["engine-liverestore-pkgupgrade26", "engine-noliverestore-pkgupgrade26"])
def test_the_package_cells_run_the_upgrade_instead_of_a_stop(cell):
    c = load_matrix(ROOT / "matrix").cell(cell)
    seq = sequence_for(c)
    assert kind(c) == "package-upgrade" and c.driver == "ssh"
    names = [a.name for phase in seq.phases.values() for a in phase]
    assert "upgrade" in names and not {"stop", "kill", "start", "window"} & set(names)
    assert seq.setup[0].name == "stage"  # the command names {debs}


def test_plan_prints_the_commands_and_their_bound(capsys):
    assert main(["plan", "engine-liverestore-pkgupgrade26"]) == 0
    out = capsys.readouterr().out
    assert "then `systemctl restart docker.service` on the node, up to 900 s" in out
    assert "stage the .debs of engine docker26 (Docker 26.1.5)" in out


def test_the_respawn_cell_waits_for_the_service_manager_instead_of_starting():
    c = load_matrix(ROOT / "matrix").cell("engine-liverestore-respawn")
    seq = sequence_for(c)
    assert kind(c) == "respawn" and c.driver == "ssh" and not c.held_down
    names = [a.name for phase in seq.phases.values() for a in phase]
    assert "kill" in names and "respawn" in names
    assert not {"start", "window", "upgrade"} & set(names), "the harness neither holds nor starts it"


def test_a_step_seen_ending_late_is_judged_by_what_ran_before_the_next_step():
    """A step's end is seen when its exit code is read (a poll later); by then the next step may
    have begun, and the sample after that 'end' shows the restart of the next command, not of
    this one. (A CI run said `dockerd 206 -> none` of the apt-get step this way.)"""
    late = [
        step("apt-get install -y ./*.deb", 0, 5.3, (2.0, "Stopped containerd.service - c")),
        step("systemctl restart docker.service", 5.3, 6, (5.35, "Stopped docker.service - D")),
    ]
    line = timeline(
        (0.0, [10], [20]), (2.1, [10], [21]), (5.2, [10], [21]), (5.35, [], [21]), (5.5, [30], [21])
    )
    notes = Upgrade(line, late).findings(T0, WALL0)
    assert notes[0].endswith("dockerd 10 kept, containerd 20 -> 21"), notes[0]
    assert notes[1].endswith("dockerd 10 -> 30, containerd 21 kept"), notes[1]


def test_a_sample_that_missed_the_running_dockerd_once_is_not_its_end():
    """A scan cut short once (dpkg's load, a slow round trip) must not read as 'dockerd gone'."""
    line = timeline((0.0, [10], [20]), (1.0, [], [20]), (2.0, [10], [20]), (5.4, [], [20]), (5.5, [30], [20]))
    assert Upgrade(line, STEPS).gone_at() == T0 + 5.4
    ran_on = timeline((0.0, [10], [20]), (1.0, [], [20]), (2.0, [10], [20]))
    assert Upgrade(ran_on, STEPS[:1]).gone_at() is None


def test_a_step_with_no_sample_of_its_own_left_what_ran_as_it_began():
    quick = [step("true", 0, 0.01), step("systemctl restart docker.service", 0.02, 1)]
    line = timeline((0.0, [10], [20]), (0.5, [], [20]), (0.9, [11], [20]))
    assert Upgrade(line, quick).findings(T0, WALL0)[0].endswith("dockerd 10 kept, containerd 20 kept")


def test_without_a_journal_the_units_are_not_said_untouched():
    sysv = Step("service docker restart", T0, T0 + 1.0, 0, "", [], journal=False)
    note = Upgrade(timeline((0.0, [10], [20]), (0.9, [11], [20])), [sysv]).findings(T0, WALL0)[0]
    assert "the service manager's log is not read on this node" in note
    assert "no docker or containerd unit" not in note


def test_a_scheduled_restart_is_told_as_one():
    restarted = step(
        "kill -9 $(pidof dockerd)",
        0,
        1,
        (0.4, "docker.service: Scheduled restart job, restart counter is at 1."),
    )
    note = Upgrade(timeline((0.0, [10], [20]), (0.9, [11], [20])), [restarted]).findings(T0, WALL0)[0]
    assert "docker.service restarted" in note
