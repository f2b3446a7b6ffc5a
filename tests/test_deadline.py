"""deadline.poll: the one bounded wait, on a virtual clock so the test takes no time."""

from __future__ import annotations

from lrmatrix.deadline import Clock, poll


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.t += seconds

    @property
    def clock(self) -> Clock:
        return Clock(lambda: self.t, self.sleep)


def test_returns_the_first_truthy_answer_without_waiting_further() -> None:
    vc, answers = VirtualClock(), iter([None, None, "up"])
    assert poll(lambda: next(answers), 10, 0.5, vc.clock) == "up"
    assert vc.slept == [0.5, 0.5]


def test_gives_up_at_the_deadline_with_the_last_falsy_value_after_a_last_check() -> None:
    vc, calls = VirtualClock(), []

    def never() -> bool:
        calls.append(vc.t)
        return False

    assert poll(never, 1.2, 0.5, vc.clock) is False
    assert vc.t == 1.2  # the last sleep is cut to the deadline, not past it
    assert calls == [0.0, 0.5, 1.0, 1.2]


def test_checks_once_when_no_time_is_left() -> None:
    vc, calls = VirtualClock(), []
    assert not poll(lambda: calls.append(1), 0, 1.0, vc.clock)
    assert calls == [1] and vc.slept == []


def test_a_slow_check_eats_into_the_interval() -> None:
    vc = VirtualClock()

    def slow() -> bool:
        vc.t += 0.3
        return False

    poll(slow, 1.0, 0.5, vc.clock)
    assert vc.slept[0] == 0.2  # start to start, as a sampler needs


def test_a_real_sleep_is_taken_in_slices_so_a_missed_signal_costs_one_slice(monkeypatch) -> None:
    """A signal landing just before a sleep's system call is handled only when that call ends:
    one 25 s call kept an interrupt waiting for the whole outage window."""
    import time

    from lrmatrix import deadline

    slept: list[float] = []
    fake = {"t": 100.0}

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        fake["t"] += seconds

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(time, "monotonic", lambda: fake["t"])
    deadline.nap(1.0)
    assert max(slept) <= deadline.NAP_SLICE_S
    assert abs(sum(slept) - 1.0) < 1e-9
    from lrmatrix.run.clock import RunClock

    assert Clock().sleep is deadline.nap and RunClock().sleep is deadline.nap
