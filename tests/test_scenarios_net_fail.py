"""Every check of the scennet scenarios (firewall-reload, new-container, containerd-kill,
dockerd-freeze, dockerd-killloop) fails on a real engine node put in the wrong state: each is
called as the scenario cell calls it, on one engine-liverestore node at its baseline; a check
that reads what its action recorded is given that record from the action run for real on a
node in the wrong state. The tests run in file order, each putting back what it changed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Deployed, ProbeEvidence
from lrmatrix.evidence.store import Evidence
from lrmatrix.matrix.model import Cell
from lrmatrix.run.runner import Runner
from lrmatrix.scenarios.actions.faults import FaultDone, FreezeDockerd, KillContainerd, api_look
from lrmatrix.scenarios.actions.firewall import forward_rules
from lrmatrix.scenarios.actions.new_container import NewContainers, RunNewContainers
from lrmatrix.scenarios.actions.spans import FaultSpan
from lrmatrix.scenarios.checks import clients, faults, firewall, new_container
from lrmatrix.workload.snapshot import capture
from prereqs import needs
from test_evidence_engine import scenario_on_engine

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """One engine-liverestore cell at its baseline (workload up, probe running), shared."""
    state = tmp_path_factory.mktemp("s")
    with scenario_on_engine({"LRMATRIX_STATE_DIR": str(state / "s")}, state / "results") as scenario:
        yield scenario


def short(cell: Cell, window: float | None = None, recover: float | None = None) -> Cell:
    """The cell with a shorter outage window or recover timeout: a wrong state shows at once."""
    t = cell.timings
    return replace(
        cell,
        timings=replace(
            t,
            outage_window_s=window if window is not None else t.outage_window_s,
            recover_timeout_s=recover if recover is not None else t.recover_timeout_s,
        ),
    )


def iptables(live: Runner, *args: str) -> None:
    res = live.node.run(["iptables", "-w", "5", *args], timeout=15)
    assert res.ok, res.one_line()


def restore_forward(live: Runner, rules: list[str]) -> None:
    """The FORWARD chain put back rule by rule, as ``iptables -S`` printed it."""
    iptables(live, "--flush", "FORWARD")
    for rule in rules:
        if rule.startswith("-A FORWARD "):
            iptables(live, *rule.split())


def test_forward_chain_fails_on_a_flushed_chain_and_on_a_rule_before_docker_user(live):
    ctx = live.ctx
    rules = forward_rules(live.node)
    assert firewall.forward_chain(ctx).value == "user jump first", rules  # the right state passes
    try:
        iptables(live, "--flush", "FORWARD")  # a firewall reload nobody repaired
        seen = firewall.forward_chain(ctx)
        assert seen.value == "empty", seen
        restore_forward(live, rules)
        iptables(live, "-I", "FORWARD", "1", "-p", "tcp", "--dport", "1", "-j", "ACCEPT")
        seen = firewall.forward_chain(ctx)
        assert seen.value == "user jump at 2", seen
        iptables(live, "--delete", "FORWARD", "-j", "DOCKER-USER")  # the jump dropped
        assert firewall.forward_chain(ctx).value == "no user jump"
    finally:
        restore_forward(live, rules)
    assert firewall.forward_chain(ctx).value == "user jump first"


def test_containers_after_fault_fails_on_a_restarted_container(live):
    ctx = live.ctx
    workload = ctx.evidence.require(Deployed).workload
    done = FaultDone("restart", workload.snapshot())
    ctx.evidence.add(done)
    assert faults.containers_after_fault(ctx).value == "kept running"
    assert live.node.dockerd.cli("restart", "-t", "1", workload.names[0]).ok
    seen = faults.containers_after_fault(ctx)
    assert seen.value == "mixed", seen  # one restarted, the other kept
    assert workload.names[0] in seen.detail


def test_exec_after_fault_fails_on_a_paused_container(live):
    ctx, name = live.ctx, live.ctx.evidence.require(Deployed).workload.names[0]
    assert faults.exec_after_fault(ctx).value == "works"
    assert live.node.dockerd.cli("pause", name).ok
    try:
        seen = faults.exec_after_fault(replace(ctx, cell=short(ctx.cell, recover=1.0)))
        assert seen.value == "fails" and "paused" in seen.detail, seen
    finally:
        assert live.node.dockerd.cli("unpause", name).ok


def test_api_while_frozen_is_answered_on_a_running_daemon_and_hung_on_a_frozen_one(live):
    ctx = live.ctx
    assert api_look(live.node) == "answered"  # what the check reports when nothing froze it
    ctx.evidence.add(*FreezeDockerd().run(replace(ctx, cell=short(ctx.cell, window=1.0))))
    assert faults.api_while_frozen(ctx).value == "hung"
    assert live.node.dockerd.api_ready()


def test_containerd_back_fails_when_nothing_restarts_it(live):
    """containerd killed while dockerd is frozen: its supervisor cannot start a new one."""
    ctx, node = live.ctx, live.node
    pid = node.daemon_pid()
    # a frozen daemon answers no inspect: the action's "before" is given, not read
    frozen = Evidence()
    frozen.add(Deployed(SimpleNamespace(snapshot=list), 0.0))
    node.run(["kill", "-s", "STOP", str(pid)])
    try:
        records = KillContainerd().run(replace(ctx, cell=short(ctx.cell, recover=1.0), evidence=frozen))
    finally:
        node.run(["kill", "-s", "CONT", str(pid)])
    ctx.evidence.add(*records)
    assert faults.containerd_back(ctx).value == "not back"
    # continued, dockerd starts the one it missed; then the right state: it starts a new one again.
    # Waited for until dockerd has connected to it (an exec needs containerd): a containerd killed
    # before that left dockerd dialling the dead socket past the 30 s the action waits (a CI run)
    name = ctx.evidence.require(Deployed).workload.names[0]

    def connected() -> bool:
        running = bool(node.processes.named("containerd"))
        return running and node.dockerd.cli("exec", name, "true", timeout=10).ok

    assert poll(connected, 60, 0.2)
    ctx.evidence.add(*KillContainerd().run(ctx))
    assert faults.containerd_back(ctx).value == "restarted"


def test_new_container_checks_fail_when_a_container_gave_up_its_address_and_port(live):
    """The first workload container stopped after the 'before' capture: its address and port
    are free, so the new containers get them."""
    ctx, node = live.ctx, live.node
    workload = ctx.evidence.require(Deployed).workload
    ctx.evidence.add(capture(node, workload, "before"))
    assert node.dockerd.cli("stop", "-t", "1", workload.names[0]).ok
    try:
        ctx.evidence.add(*RunNewContainers().run(ctx))
        rec = ctx.evidence.require(NewContainers)
        assert new_container.new_container_address(ctx).value == "old address reused", rec
        assert new_container.old_port_refused(ctx).value == "published", rec
    finally:
        node.dockerd.cli("rm", "-f", "lrm-web-new-bridge", "lrm-web-new-port")
        assert node.dockerd.cli("start", workload.names[0]).ok


def test_clients_during_fault_fails_while_the_forward_chain_is_flushed(live):
    """Last: it needs the probe's samples, which the teardown hands over."""
    ctx, clock = live.ctx, live.ctx.clock
    rules = forward_rules(live.node)
    start = clock.now()
    clock.sleep(1.0)
    answered = FaultSpan("nothing", start, clock.now())
    try:
        iptables(live, "--flush", "FORWARD")  # policy DROP: the node path's packets are dropped
        start = clock.now()
        clock.sleep(1.5)
        flushed = FaultSpan("FORWARD flushed", start, clock.now())
    finally:
        restore_forward(live, rules)
    live.advance("teardown")
    assert ctx.evidence.last(ProbeEvidence) is not None
    ctx.evidence.add(answered)
    assert "node answered" in clients.clients_during_fault(ctx).value
    ctx.evidence.add(flushed)
    seen = clients.clients_during_fault(ctx)
    assert "node failed" in seen.value, seen
