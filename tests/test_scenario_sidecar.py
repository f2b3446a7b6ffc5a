"""The pieces the volumes-in-use, restart-policy and paused scenarios share and judge by,
without a node: Docker's times ordered as times, one value for many volumes, a state's word,
and their actions' params refused in one line before anything runs."""

from __future__ import annotations

import pytest

from lrmatrix.errors import BadInput
from lrmatrix.scenarios.checks.pauses import refusal
from lrmatrix.scenarios.containers import docker_time, nanoseconds
from lrmatrix.scenarios.sidecar import State, per_item
from test_scenarios import parse, scenario


def test_docker_times_order_as_times_not_as_strings():
    earlier, later = "2026-12-03T04:52:50.5Z", "2026-12-03T04:52:50.51Z"
    assert later < earlier  # as strings ("Z" sorts after digits): the trap
    assert nanoseconds(later) > nanoseconds(earlier)
    assert nanoseconds("2026-12-03T04:52:50.000000001Z") - nanoseconds("2026-12-03T04:52:50Z") == 1
    assert nanoseconds("0001-01-01T00:00:00Z") < nanoseconds("2026-12-03T04:52:50Z")
    # an offset, as a node's daemon in another zone writes it, is the same instant
    assert nanoseconds("2026-12-03T05:52:50.25+01:00") == nanoseconds("2026-12-03T04:52:50.25Z")
    assert docker_time("2026-12-03T04:52:50.5Z") - docker_time("2026-12-03T04:52:50Z") == 0.5


@pytest.mark.parametrize(
    ("seen", "value"),
    [
        ({"lrm-a": "seen", "lrm-b": "seen"}, "seen"),
        ({"lrm-b": "lost", "lrm-a": "seen"}, "lrm-a: seen, lrm-b: lost"),
    ],
)
def test_many_volumes_give_one_value_unless_they_differ(seen, value):
    assert per_item(seen) == value


def test_a_state_reads_its_exit_code_only_once_exited():
    exited = State("exited", False, 0, 137, "2026-12-03T04:52:50Z", 0)
    assert (exited.word, State("paused", True, 9, 0, "", 0).word) == ("exited 137", "paused")


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"action": "use-volume", "params": {"volume": "Data"}}, "volume 'Data' does not match"),
        ({"action": "use-volume", "params": {"restart": "sometimes"}}, "restart 'sometimes' is none of"),
        ({"action": "use-volume", "params": {"options": {"o": "a,b"}}}, "option o='a,b'"),
        ({"action": "policy-container", "params": {"policy": "allways"}}, "policy 'allways' is none of"),
        ({"action": "pause-container", "params": {"container": "x y"}}, "container 'x y' does not match"),
        ({"action": "pause-container", "params": {"pid": 1}}, "pause-container: "),
    ],
)
def test_bad_params_of_these_actions_are_one_line(step, words):
    with pytest.raises(BadInput) as err:
        parse(sx=scenario(actions={"setup": [step]}))
    assert "\n" not in str(err.value)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("said", "words"),
    [
        ("Error response from daemon: Container 2031b6 is not paused", "not paused"),
        (
            "Error response from daemon: Cannot unpause container 346a93: OCI runtime resume failed: "
            "container not paused: unknown",
            "container not paused",
        ),
    ],
)
def test_an_unpause_refusal_is_said_in_the_daemons_few_words(said, words):
    assert refusal(said) == words
