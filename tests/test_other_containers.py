"""The record of an existing node's own containers: what is said before the run, what changed,
and when ``other_containers_as_before`` fails. The record is data (inspect output as dockerd
writes it); the real containers are in tests/integration/test_ssh_other_containers.py."""

from __future__ import annotations

import json
from dataclasses import replace

from lrmatrix.evidence.other_containers import OtherContainer, OtherContainers

PLAIN = OtherContainer("a" * 64, "own-plain", "running", 101, "2026-01-01T00:00:00Z", "no")
ALWAYS = OtherContainer("b" * 64, "own-always", "running", 102, "2026-01-01T00:00:01Z", "always")
IDLE = OtherContainer("c" * 64, "own-idle", "exited", 0, "2026-01-01T00:00:02Z", "no")
TEMP = OtherContainer("d" * 64, "own-temp", "running", 104, "2026-01-01T00:00:03Z", "no", auto_remove=True)


def later(c: OtherContainer, **change: object) -> OtherContainer:
    return replace(c, **change)  # type: ignore[arg-type]


def test_from_inspect_reads_what_identifies_a_container() -> None:
    item = {
        "Id": "e" * 64,
        "Name": "/own-web",
        "State": {"Status": "running", "Pid": 4242, "StartedAt": "2026-01-01T00:00:00.5Z", "ExitCode": 0},
        "HostConfig": {
            "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
            "AutoRemove": True,
        },
        "RestartCount": 2,
    }
    c = OtherContainer.from_inspect(json.loads(json.dumps(item)))
    assert (c.name, c.state, c.pid, c.restart_policy, c.restart_count, c.auto_remove) == (
        "own-web",
        "running",
        4242,
        "unless-stopped",
        2,
        True,
    )
    assert c.policy == "restart unless-stopped, --rm"


def test_without_live_restore_the_notice_names_what_will_go_down() -> None:
    others = OtherContainers((PLAIN, ALWAYS, IDLE), live_restore=False)
    assert [c.name for c in others.will_go_down()] == ["own-plain", "own-always"]
    notice = others.notice()
    assert notice is not None
    assert notice.startswith(
        "without live-restore, stopping dockerd stops the node's own running containers: "
    )
    assert "own-plain (no restart policy), own-always (restart always)" in notice
    assert "own-idle" not in notice, "it is not running: nothing goes down"


def test_with_live_restore_nothing_is_announced() -> None:
    others = OtherContainers((PLAIN, ALWAYS, IDLE), live_restore=True)
    assert others.will_go_down() == [] and others.notice() is None


def test_a_rm_container_is_said_to_be_lost_before_the_run() -> None:
    notice = OtherContainers((TEMP,), live_restore=False).notice()
    assert notice is not None and "own-temp cannot be brought back: --rm removes it" in notice


def test_kept_pids_pass_and_are_named() -> None:
    others = OtherContainers((PLAIN, ALWAYS, IDLE), live_restore=True)
    others.after = others.final = (PLAIN, ALWAYS, IDLE)
    assert others.check() == (
        True,
        "3 of the node's own containers checked; the running ones kept their PIDs",
    )
    assert others.findings() == [
        "the node's own containers own-plain, own-always kept running with the same PIDs"
    ]
    assert others.summary() == []


def test_started_again_and_restarted_by_policy_pass_and_are_said() -> None:
    others = OtherContainers((PLAIN, ALWAYS), live_restore=False)
    stopped = later(PLAIN, state="exited", pid=0, exit_code=0)
    renewed = later(ALWAYS, pid=202, started_at="2026-01-01T00:01:00Z", restart_count=1)
    others.after = (stopped, renewed)
    others.started = {"own-plain": ""}
    others.final = (later(PLAIN, pid=201, started_at="2026-01-01T00:01:01Z"), renewed)
    passed, detail = others.check()
    assert passed, detail
    assert "started again (docker start): own-plain" in detail
    assert "running again with a new process: own-always" in detail
    found = "\n".join(others.findings())
    assert (
        "own-plain (no restart policy) was running before the run and exited after it (exit code 0)" in found
    )
    assert "the teardown started own-plain again (docker start): now pid 201" in found
    assert "own-always (restart always) runs with a new process: pid 102 → 202" in found
    assert "own-always (restart always): restart count 0 → 1" in found
    assert others.summary() == [f"the node's own containers: {detail}"]


def test_a_container_that_cannot_be_started_again_fails() -> None:
    others = OtherContainers((PLAIN, ALWAYS), live_restore=False)
    stopped = later(PLAIN, state="exited", pid=0, exit_code=137)
    others.after = others.final = (stopped, ALWAYS)
    others.started = {"own-plain": "invalid mount config: bind source path does not exist: /srv/x"}
    passed, detail = others.check()
    assert not passed
    assert detail == (
        "not running again: own-plain is exited: docker start failed: "
        "invalid mount config: bind source path does not exist: /srv/x"
    )
    assert any("could not start own-plain again: invalid mount config" in f for f in others.findings())
    assert others.summary() == [f"the node's own containers: {detail}"]


def test_gone_fails_and_says_rm() -> None:
    others = OtherContainers((TEMP, IDLE), live_restore=False)
    others.after = others.final = (IDLE,)
    passed, detail = others.check()
    assert not passed and detail == "not running again: own-temp is gone (--rm removed it when it stopped)"
    assert others.findings() == ["the node's own container own-temp (no restart policy, --rm) was running "
                                 "before the run and is gone (--rm removed it when it stopped)"]  # fmt: skip


def test_a_teardown_that_never_looked_fails_only_when_something_was_running() -> None:
    never = OtherContainers((PLAIN,), live_restore=False, error="dockerd is not running")
    assert never.check() == (False, "not running again: own-plain (not checked: dockerd is not running)")
    assert never.findings() == ["the node's own containers were not looked at again: dockerd is not running"]
    assert OtherContainers((IDLE,), live_restore=False).check()[0]
    assert OtherContainers((), live_restore=False).check() == (True, "the node has no containers of its own")


def test_the_record_survives_the_node_record_for_recover() -> None:
    others = OtherContainers((PLAIN, TEMP), live_restore=True)
    again = OtherContainers.from_record(json.loads(json.dumps(others.to_record())))
    assert again == others
    assert OtherContainers.from_record(None) is None
    assert OtherContainers.from_record({"before": "nonsense"}) is None


def test_a_reused_pid_with_another_start_time_is_a_new_process() -> None:
    others = OtherContainers((ALWAYS,), live_restore=False)
    others.after = others.final = (later(ALWAYS, started_at="2026-01-01T00:09:00Z"),)
    assert others.check() == (
        True,
        "1 of the node's own containers checked; running again with a new process: own-always",
    )
    assert "own-always (restart always) runs with a new process: pid 102 → 102" in others.findings()[0]


def test_one_its_policy_still_restarts_is_not_back() -> None:
    others = OtherContainers((ALWAYS,), live_restore=False)
    others.after = others.final = (later(ALWAYS, state="restarting", pid=0),)
    assert others.check() == (False, "not running again: own-always is restarting")
