"""The node's own containers: on an existing node, every container that is not the cell's.

A run on someone's staging node stops their dockerd, and without live-restore that stops their
containers too. So before anything changes the ssh driver records each of them (``observe``):
ID, name, state, PID, start time, restart policy. That record goes into the node's change
record first, so ``lrmatrix recover`` has it after a killed run. The teardown compares, starts
again every one that was running and is not (``bring_back``), and looks once more: what
changed is a finding, and one that is not running again fails ``other_containers_as_before``.

One restarted by its own restart policy (a new PID) counts as back: without live-restore that
is the price the cell measures, and the run always says so. It is a small evidence record:
the driver produces it, the findings, the check and the result read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Record

if TYPE_CHECKING:
    from lrmatrix.modules.dockerd import Dockerd

CHECK_ID = "other_containers_as_before"
#: how long the teardown lets a container that its restart policy is restarting settle
SETTLE_S = 10.0
SETTLE_EVERY_S = 0.5


@dataclass(frozen=True)
class OtherContainer:
    """One container as ``docker inspect`` shows it, reduced to what says whether it was touched."""

    id: str
    name: str
    state: str  # created, running, paused, restarting, exited, dead
    pid: int  # 0 when not running
    started_at: str
    restart_policy: str  # no, always, unless-stopped, on-failure
    restart_count: int = 0
    exit_code: int = 0
    auto_remove: bool = False  # --rm: dockerd removes it when it stops

    @property
    def running(self) -> bool:
        return self.state == "running"

    def same_process(self, later: OtherContainer) -> bool:
        """The PID alone can be reused: with the start time it names one process."""
        return (self.pid, self.started_at) == (later.pid, later.started_at)

    @property
    def policy(self) -> str:
        """The restart policy in words, with --rm, as a parenthesis in a sentence."""
        words = "no restart policy" if self.restart_policy in ("", "no") else f"restart {self.restart_policy}"
        return f"{words}, --rm" if self.auto_remove else words

    @classmethod
    def from_inspect(cls, item: dict[str, Any]) -> OtherContainer:
        state = item.get("State") or {}
        host = item.get("HostConfig") or {}
        return cls(
            id=str(item["Id"]),
            name=str(item.get("Name", "")).lstrip("/"),
            state=str(state.get("Status", "")),
            pid=int(state.get("Pid") or 0),
            started_at=str(state.get("StartedAt", "")),
            restart_policy=str((host.get("RestartPolicy") or {}).get("Name") or "no"),
            restart_count=int(item.get("RestartCount") or 0),
            exit_code=int(state.get("ExitCode") or 0),
            auto_remove=bool(host.get("AutoRemove")),
        )

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> OtherContainer:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in raw.items() if k in known})


def inspected(dockerd: Dockerd) -> list[dict[str, Any]]:
    """``docker inspect`` of every container on the node, in one ``docker ps`` and one inspect."""
    ids = dockerd.cli_ok("ps", "-aq", "--no-trunc").split()
    if not ids:
        return []
    # a container removed between the two commands makes inspect exit 1 after printing the rest
    res = dockerd.cli("inspect", *ids)
    try:
        items = json.loads(res.stdout or "[]")
    except ValueError:
        items = None
    if not isinstance(items, list):
        dockerd.cli_ok("inspect", *ids)  # raises with docker's own reason
        items = []
    return items


def labels_of(item: dict[str, Any]) -> dict[str, str]:
    return (item.get("Config") or {}).get("Labels") or {}


def observe(
    dockerd: Dockerd, exclude: dict[str, str], skip: frozenset[str] = frozenset()
) -> tuple[OtherContainer, ...]:
    """Every container on the node but those labelled with one of ``exclude`` (the cell's own)
    and those whose ID is in ``skip`` (observe mode: the ones the cell watches)."""
    found = (
        OtherContainer.from_inspect(i)
        for i in inspected(dockerd)
        if i["Id"] not in skip and not any(labels_of(i).get(k) == v for k, v in exclude.items())
    )
    return tuple(sorted(found, key=lambda c: c.name))


@dataclass
class OtherContainers(Record):
    """The node's own containers before the run, as the teardown found them, and after it
    started again those that were running and were not (the node fills it in as it goes; the
    runner keeps it once the node is torn down)."""

    before: tuple[OtherContainer, ...]
    #: the cell's live-restore: without it the disruption stops them
    live_restore: bool
    #: the teardown had to restart dockerd to give back the node's live-restore setting (its
    #: reload did not): that stops them as well
    teardown_restarted: bool = False
    #: as the teardown found them, before it started any (None: it never looked)
    after: tuple[OtherContainer, ...] | None = None
    #: name -> "" when the teardown's ``docker start`` worked, else docker's reason
    started: dict[str, str] = field(default_factory=dict)
    #: after the teardown's starts (None: it never got there)
    final: tuple[OtherContainer, ...] | None = None
    #: why the teardown could not look (dockerd not running, a failed command)
    error: str = ""
    #: observe mode: the user's containers the cell watches, before the run; never in ``before``,
    #: so neither the teardown nor ``recover`` ever starts one
    observed: tuple[OtherContainer, ...] = ()
    #: the same, as the teardown left them (None: it never looked)
    observed_final: tuple[OtherContainer, ...] | None = None

    @property
    def observed_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.observed)

    # --- before the disruption -------------------------------------------------------------
    def will_go_down(self) -> list[OtherContainer]:
        """The running ones that the disruption will stop: all of them without live-restore."""
        return [] if self.live_restore else [c for c in self.before if c.running]

    def notice(self) -> str | None:
        """What the run will do to them, said before it does it."""
        said = [self._observed_notice()] if self.observed and not self.live_restore else []
        down = self.will_go_down()
        if down:
            when = "without live-restore, stopping dockerd stops the node's own running containers"
            gone = [c.name for c in down if c.auto_remove]
            lost = (
                f"; {', '.join(gone)} cannot be brought back: --rm removes it when it stops" if gone else ""
            )
            names = ", ".join(f"{c.name} ({c.policy})" for c in down)
            said.append(f"{when}: {names}; the teardown starts again each one that is not running then{lost}")
        return "; ".join(said) or None

    def _observed_notice(self) -> str:
        names = ", ".join(f"{c.name} ({c.policy})" for c in self.observed)
        return (
            f"without live-restore, stopping dockerd stops the observed containers {names}; dockerd starts "
            "them again by their restart policy when it is back (new processes), the harness never does"
        )

    def observed_problems(self) -> list[str]:
        """Each observed container the run did not leave as it was: gone, not running, and in a
        live-restore cell a new process or restart count."""
        if not self.observed:
            return []
        if self.observed_final is None:
            why = self.error or "the teardown did not get to them"
            return [f"observed {c.name} (not checked: {why})" for c in self.observed]
        final = self._later(self.observed_final)
        said = []
        for c in self.observed:
            now = final.get(c.id)
            if now is None:
                said.append(f"observed {c.name} is gone")
            elif not now.running:
                said.append(f"observed {c.name} is {now.state}{_exit(now)}")
            elif self.live_restore and not c.same_process(now):
                said.append(f"observed {c.name} runs with a new process: pid {c.pid} → {now.pid}")
            elif self.live_restore and now.restart_count != c.restart_count:
                said.append(f"observed {c.name}: restart count {c.restart_count} → {now.restart_count}")
        return said

    def observed_kept(self) -> list[str]:
        """The observed containers with the same ID, process and restart count at the end."""
        final = self._later(self.observed_final)
        return [
            c.name
            for c in self.observed
            if (now := final.get(c.id)) is not None
            and now.running
            and c.same_process(now)
            and now.restart_count == c.restart_count
        ]

    # --- what became of them ---------------------------------------------------------------
    def _later(self, which: tuple[OtherContainer, ...] | None) -> dict[str, OtherContainer]:
        return {c.id: c for c in which or ()}

    def not_back(self) -> list[str]:
        """Each container that was running before and is not running at the end, with why."""
        if not [c for c in self.before if c.running]:
            return []
        if self.final is None:
            why = self.error or "the teardown did not get to them"
            return [f"{c.name} (not checked: {why})" for c in self.before if c.running]
        final = self._later(self.final)
        missing = []
        for c in self.before:
            now = final.get(c.id)
            if not c.running or (now is not None and now.running):
                continue
            if now is None:
                missing.append(
                    f"{c.name} is gone" + (" (--rm removed it when it stopped)" if c.auto_remove else "")
                )
            elif self.started.get(c.name):
                missing.append(f"{c.name} is {now.state}: docker start failed: {self.started[c.name]}")
            else:
                missing.append(f"{c.name} is {now.state}" + _exit(now))
        return missing

    def changes(self) -> list[str]:
        """Every difference between before and what the teardown found, one sentence each."""
        if self.after is None:
            return []
        after, final = self._later(self.after), self._later(self.final)
        said = []
        for c in self.before:
            now = after.get(c.id)
            who = f"the node's own container {c.name} ({c.policy})"
            if now is None:
                why = " (--rm removed it when it stopped)" if c.auto_remove else ""
                said.append(f"{who} was {c.state} before the run and is gone{why}")
                continue
            if c.running and not now.running:
                said.append(f"{who} was running before the run and {now.state} after it{_exit(now)}")
            elif c.running and not c.same_process(now):
                said.append(
                    f"{who} runs with a new process: pid {c.pid} → {now.pid}, started {now.started_at}"
                )
            elif not c.running and now.running:
                said.append(f"{who} was {c.state} before the run and running after it")
            elif c.state != now.state:
                said.append(f"{who} was {c.state} before the run and {now.state} after it")
            if now.restart_count != c.restart_count:
                said.append(f"{who}: restart count {c.restart_count} → {now.restart_count}")
            if c.name in self.started:
                done = final.get(c.id)
                if self.started[c.name]:
                    said.append(f"the teardown could not start {c.name} again: {self.started[c.name]}")
                elif done is not None and done.running:
                    said.append(f"the teardown started {c.name} again (docker start): now pid {done.pid}")
                else:  # it started, and its process ended at once
                    state = done.state if done else "gone"
                    said.append(f"the teardown started {c.name} again, and it is {state}{_exit(done)}")
        return said

    def findings(self) -> list[str]:
        """The changes, and those that kept running untouched, named."""
        if self.after is None:
            return [f"the node's own containers were not looked at again: {self.error}"] if self.error else []
        after = self._later(self.after)
        kept = [
            c.name
            for c in self.before
            if c.running and (now := after.get(c.id)) is not None and c.same_process(now)
        ]
        notes = self.changes()
        if notes and self.teardown_restarted:  # the run cannot tell which of its two restarts did it
            notes.append(
                "the teardown restarted dockerd to give back the node's live-restore setting: the changes "
                "to the node's own containers come from that restart or from the disruption"
            )
        if kept:
            notes.append(f"the node's own containers {', '.join(kept)} kept running with the same PIDs")
        notes += self.observed_problems()
        observed_kept = self.observed_kept()
        if observed_kept:
            notes.append(
                f"the observed containers {', '.join(observed_kept)} kept running with the same IDs, PIDs "
                "and restart counts"
            )
        return notes

    def check(self) -> tuple[bool, str]:
        """``other_containers_as_before``: passed, and its detail. A container running again,
        whoever started it, is back; one that is not fails the check."""
        missing = self.not_back()
        observed = self.observed_problems()
        if missing or observed:
            said = ["not running again: " + "; ".join(missing)] if missing else []
            return False, "; ".join(said + observed)
        kept = self.observed_kept()
        seen = [f"observed {', '.join(kept)}: same IDs, PIDs and restart counts"] if kept else []
        if not self.before:
            return True, "; ".join(["the node has no containers of its own", *seen])
        started = [n for n, why in self.started.items() if not why]
        renewed = self._renewed()
        said = [f"{len(self.before)} of the node's own containers checked"]
        if started:
            said.append(f"started again (docker start): {', '.join(started)}")
        if renewed:
            said.append(f"running again with a new process: {', '.join(renewed)}")
        if not started and not renewed:
            said.append("the running ones kept their PIDs")
        return True, "; ".join(said + seen)

    def _renewed(self) -> list[str]:
        after = self._later(self.after)
        return [
            c.name
            for c in self.before
            if c.running
            and c.name not in self.started
            and (now := after.get(c.id)) is not None
            and now.running
            and not c.same_process(now)
        ]

    def summary(self) -> list[str]:
        """The terminal's lines: what the teardown did to them, when it did anything."""
        passed, detail = self.check()
        if passed and not self.started and not self._renewed():
            return []
        return [f"the node's own containers: {detail}"]

    # --- in the node's change record (``changes.json``), for ``recover`` after a killed run ---
    def to_record(self) -> dict[str, Any]:
        return {
            "before": [asdict(c) for c in self.before],
            "live_restore": self.live_restore,
            "observed": [asdict(c) for c in self.observed],
        }

    @classmethod
    def from_record(cls, raw: object) -> OtherContainers | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("before"), list):
            return None
        return cls(
            before=tuple(OtherContainer.from_record(c) for c in raw["before"] if isinstance(c, dict)),
            live_restore=bool(raw.get("live_restore")),
            observed=tuple(
                OtherContainer.from_record(c) for c in raw.get("observed") or [] if isinstance(c, dict)
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        def dump(which: tuple[OtherContainer, ...] | None) -> list[dict[str, Any]] | None:
            return None if which is None else [asdict(c) for c in which]

        return {
            "before": dump(self.before),
            "after": dump(self.after),
            "final": dump(self.final),
            "will_go_down": [c.name for c in self.will_go_down()],
            "notice": self.notice(),
            "started_again": dict(self.started),
            "teardown_restarted": self.teardown_restarted,
            "not_back": self.not_back(),
            "error": self.error or None,
            "observed": dump(self.observed),
            "observed_final": dump(self.observed_final),
            "observed_problems": self.observed_problems(),
        }


def _exit(c: OtherContainer | None) -> str:
    return f" (exit code {c.exit_code})" if c is not None and c.state == "exited" else ""


def bring_back(dockerd: Dockerd, others: OtherContainers, exclude: dict[str, str]) -> None:
    """Look at them again (dockerd running with the node's own settings), start each one that
    was running and is not, and look once more; fills ``after``, ``started`` and ``final``.

    One that its restart policy is restarting is given ``SETTLE_S`` first: a ``docker start``
    would race dockerd's own."""
    wanted = {c.id for c in others.before if c.running}
    skip = others.observed_ids  # the observed ones are the user's: looked at, never started
    others.after = latest = observe(dockerd, exclude, skip)

    def settled() -> bool:
        nonlocal latest
        if not any(c.state == "restarting" for c in latest if c.id in wanted):
            return True
        latest = observe(dockerd, exclude, skip)
        return False

    if wanted:
        poll(settled, SETTLE_S, SETTLE_EVERY_S)
    for c in latest:  # one still restarting is its restart policy's: a start would race it
        if c.id in wanted and c.state not in ("running", "restarting"):
            res = dockerd.cli("start", c.id, timeout=60)
            others.started[c.name] = "" if res.ok else _start_error(res.stderr) or res.one_line()
    others.final = observe(dockerd, exclude, skip) if others.started else latest
    if others.observed:
        found = (OtherContainer.from_inspect(i) for i in inspected(dockerd))
        others.observed_final = tuple(c for c in found if c.id in skip)


def _start_error(stderr: str) -> str:
    """dockerd's reason from ``docker start``'s output, without the CLI's closing line that
    only names the ID ("Error: failed to start containers: <id>")."""
    lines = [ln.strip().removeprefix("Error response from daemon: ") for ln in stderr.splitlines()]
    return "; ".join(ln for ln in lines if ln and not ln.startswith("Error: failed to start containers"))
