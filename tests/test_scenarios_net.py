"""The scennet checks' judgement, both ways, from what a node would print or a run record:
the FORWARD chain's order, what clients saw in a fault's span, the new containers' address
and port, the containers before and after a fault. (On real nodes: test_scenarios_net_fail.py.)"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lrmatrix.errors import NodeError
from lrmatrix.evidence.probe import PathRecord, Sample
from lrmatrix.evidence.records import ProbeEvidence, WindowEnded
from lrmatrix.evidence.store import Evidence
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.run.clock import RunClock
from lrmatrix.scenarios.actions.daemonconfig import ChangeDaemonJson
from lrmatrix.scenarios.actions.faults import KillLoop
from lrmatrix.scenarios.actions.firewall import FlushForward
from lrmatrix.scenarios.actions.new_container import NewContainers, unpublished
from lrmatrix.scenarios.actions.spans import FaultSpan
from lrmatrix.scenarios.checks.clients import clients_during_fault, judged
from lrmatrix.scenarios.checks.faults import compared
from lrmatrix.scenarios.checks.firewall import forward_state
from lrmatrix.scenarios.checks.new_container import address_seen, port_seen
from lrmatrix.scenarios.observation import mismatch, observe
from lrmatrix.workload.containers import ContainerState

REPAIRED_28 = ["-P FORWARD DROP", "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD"]
REPAIRED_20 = [
    "-P FORWARD DROP",
    "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
    "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A FORWARD -o docker0 -j DOCKER",
]


@pytest.mark.parametrize(
    ("rules", "seen"),
    [
        (REPAIRED_28, "user jump first"),
        (REPAIRED_20, "no user jump"),
        ([*REPAIRED_20, "-A FORWARD -j DOCKER-USER"], "user jump at 4"),
        (["-P FORWARD DROP"], "empty"),
    ],
)
def test_forward_state(rules, seen):
    assert forward_state(rules) == seen


def sample(t: float, ok: bool) -> Sample:
    return Sample(t, t, "http://x/", ok, 200 if ok else 0, 1.0)


def ctx_with(*records) -> SimpleNamespace:
    evidence = Evidence()
    evidence.add(*records)
    return SimpleNamespace(evidence=evidence, clock=RunClock())


def probe(**paths: list[Sample]) -> ProbeEvidence:
    return ProbeEvidence({name: PathRecord(name, samples) for name, samples in paths.items()}, 0.0)


def test_judged_says_answered_failed_or_partly():
    assert judged([sample(1, True), sample(2, True)]) == "answered"
    assert judged([sample(1, False), sample(2, False)]) == "failed"
    assert judged([sample(1, True), sample(2, False)]) == "partly failed"
    assert judged([]) == "not probed"


def test_clients_during_fault_reads_only_the_span_and_ends_an_open_one_at_the_start_command():
    node = [sample(t / 10, t < 20 or t >= 50) for t in range(80)]  # failed from 2.0 s to 5.0 s
    loop = [sample(t / 10, t < 20) for t in range(80)]
    seen = clients_during_fault(
        ctx_with(probe(node=node, loopback=loop), FaultSpan("flushed", 2.0, None), WindowEnded(5.0))
    )
    assert seen.value == "loopback failed, node failed"
    assert "node: 0/30 answered" in seen.detail
    seen = clients_during_fault(ctx_with(probe(node=node, loopback=loop), FaultSpan("flushed", 0.0, 1.0)))
    assert seen.value == "loopback answered, node answered"
    assert clients_during_fault(ctx_with(probe(node=node))).value == "no fault span"
    assert clients_during_fault(ctx_with(probe(node=node), FaultSpan("x", 2.0, None))).value == "no end"


def test_on_a_node_that_probes_the_node_path_only_the_check_is_judged_on_that_path():
    """An ssh node's probe reaches the node path only: the value measured on an engine node is
    narrowed to it, so the path it can see still decides, both ways."""
    measured = "loopback answered, node answered, pod answered"
    span = FaultSpan("containerd killed", 2.0, 5.0)
    kept = observe(
        "clients-during-fault",
        ctx_with(probe(node=[sample(t / 10, True) for t in range(80)]), span),
        measured,
    )
    assert (kept.expected, kept.observed) == ("node answered", "node answered")
    assert mismatch(kept, kept.expected, "engine/liverestore", "containerd-kill") is None
    node = [sample(t / 10, t < 30) for t in range(80)]
    lost = observe("clients-during-fault", ctx_with(probe(node=node), span), measured)
    assert lost.expected == "node answered"
    assert "observed 'node partly failed'" in mismatch(
        lost, lost.expected, "engine/liverestore", "containerd-kill"
    )
    # every path probed (an engine node): the whole measured value
    three = {p: [sample(t / 10, True) for t in range(80)] for p in ("loopback", "node", "pod")}
    assert observe("clients-during-fault", ctx_with(probe(**three), span), measured).expected == measured


def test_actions_that_touch_the_nodes_network_refuse_a_node_of_yours_before_anything_runs():
    assert FlushForward().refuses_node("engine") is None
    assert "never on a ssh node's firewall" in FlushForward().refuses_node("ssh")
    assert ChangeDaemonJson(bip=True, log_driver="local").refuses_node("engine") is None
    assert "never in a ssh node's network" in ChangeDaemonJson(address_pools=True).refuses_node("ssh")
    assert ChangeDaemonJson(log_driver="local").refuses_node("ssh") is None


def test_new_container_address_and_port_both_ways():
    ok = NewContainers({"lrm-web-1": "198.19.1.2", "lrm-web-2": "198.19.1.3"}, "198.19.1.4", "", 8081, 125, (
        "docker: Error response from daemon: driver failed programming external connectivity on endpoint "
        "lrm-web-new-port: Bind for 0.0.0.0:8081 failed: port is already allocated"
    ))  # fmt: skip
    assert (address_seen(ok).value, port_seen(ok).value) == ("new address", "already allocated")
    wrong = NewContainers({"lrm-web-1": "198.19.1.2"}, "198.19.1.2", "", 8081, 0, "")
    assert (address_seen(wrong).value, port_seen(wrong).value) == ("old address reused", "published")
    none = NewContainers({}, "", "no such image", 8081, 125, "address already in use")
    assert (address_seen(none).value, port_seen(none).value) == ("no address", "address in use")


def state(name: str, pid: int, running: bool = True, started: str = "t0") -> ContainerState:
    return ContainerState(name, name, running, pid, started, 0, 8081)


def test_containers_after_fault_kept_restarted_stopped_mixed():
    before = [state("a", 10), state("b", 11)]
    assert compared(before, [state("a", 10), state("b", 11)]).value == "kept running"
    assert compared(before, [state("a", 20, started="t1"), state("b", 21, started="t1")]).value == "restarted"
    assert compared(before, [state("a", 0, running=False), state("b", 0, running=False)]).value == "stopped"
    seen = compared(before, [state("a", 10), state("b", 21, started="t1")])
    assert seen.value == "mixed" and "b: pid 11 -> 21" in seen.detail
    assert compared(before, []).value == "removed"
    assert compared([], []).value == "no container"


def test_unpublished_drops_only_the_port_pair():
    args = ["run", "-d", "--name", "x", "-p", "8081:80", "-v", "a:b:ro", "img"]
    assert unpublished(args) == ["run", "-d", "--name", "x", "-v", "a:b:ro", "img"]


def test_kill_loop_refuses_a_count_out_of_range():
    with pytest.raises(ValueError, match="kills = 0 is out of range"):
        KillLoop(kills=0)


def test_scenario_cells_carry_their_verdict_and_variant_default():
    cells = {c.name: c for c in load_matrix().cells}
    flushed = cells["engine-liverestore-firewall-reload"]
    assert (flushed.expect, flushed.scenario.verdict) == ("outage", "outage")
    plain = cells["engine-liverestore-new-container"]
    assert (plain.expect, plain.scenario.verdict) == ("survive", None)


def test_flush_forward_refuses_a_node_whose_firewall_is_the_hosts_and_runs_nothing():
    ran: list[list[str]] = []
    node = SimpleNamespace(scheme="ssh", name="staging", run=lambda argv, timeout=0: ran.append(argv))
    ctx = SimpleNamespace(node=node, clock=RunClock())
    with pytest.raises(NodeError, match=r"only on an engine node .* never on a ssh node's firewall"):
        FlushForward().run(ctx)
    assert ran == []
