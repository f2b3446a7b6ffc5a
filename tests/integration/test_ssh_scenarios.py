"""Scenario cells on a node of yours (issue 22): the library's actions and checks read the
node's Docker over ssh as they read an engine node's, and the node is left as it was.

Both staging nodes run Debian 12's docker.io 20.10, the Docker the `engine` platform's
expectations were measured on, so its scenario cells judge them; a cell measured on another
Docker, or whose action would touch the node's own network, refuses before anything changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_ssh_driver as ssh
from sshnode import DAEMON_JSON, SEEDED, StagingNode

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("short_outage_window")]
staging, clean = ssh.staging, ssh.clean

#: scenario containers and volumes are named lrm-scn-*; none may outlive the cell
LEFTOVERS = "docker ps -aq --filter name=lrm-; docker volume ls -q --filter name=lrm-"


def observations(result: dict) -> dict[str, tuple[str | None, str, bool]]:
    found = result["scenario"]["observations"]
    return {o["check"]: (o["expected"], o["observed"], o["passed"]) for o in found}


def run(node: StagingNode, cell: str, tmp_path: Path):
    return ssh.run_cell(cell, node.spec, tmp_path / "results", node.client_env(), "--allow-disruption")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        # the exit code of a container that exits while dockerd is down; an --rm one removed
        ("engine-liverestore-exited-while-down", {"exit-status": "exited 3", "autoremove": "removed"}),
    ],
)
def test_a_scenario_cell_judges_a_node_of_yours_and_leaves_it_as_it_was(clean, tmp_path, cell, expected):
    clean.write(DAEMON_JSON, SEEDED)
    before = clean.state()

    res = run(clean, cell, tmp_path)

    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    result = json.loads((tmp_path / "results" / f"{cell}.json").read_text())
    assert result["driver"] == "ssh"
    seen = observations(result)
    assert {check: observed for check, (_, observed, _) in seen.items()} == expected
    assert all(passed for *_, passed in seen.values()), seen
    assert clean.read(DAEMON_JSON) == SEEDED
    assert clean.state() | {"dockerd": None} == before | {"dockerd": None}
    assert clean.sh(LEFTOVERS).split() == []


@ssh.SYSV_ONLY
def test_a_fault_check_is_judged_on_the_one_path_an_ssh_node_probes(clean, tmp_path):
    """containerd killed for the window: the value measured on the engine node names three
    paths; over ssh the node path alone is probed, and it is what decides."""
    cell = "engine-liverestore-containerd-kill"
    res = run(clean, cell, tmp_path)

    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    seen = observations(json.loads((tmp_path / "results" / f"{cell}.json").read_text()))
    assert seen["clients-during-fault"] == ("node answered", "node answered", True)
    assert seen["containerd-back"][2], seen
    assert clean.sh(LEFTOVERS).split() == []


@ssh.SYSV_ONLY
@pytest.mark.parametrize(
    ("cell", "words"),
    [
        (
            "engine26-liverestore-exited-while-down",
            "judges against what Docker 26.1 did and root@198.18.200.2:22 (sysvinit) runs Docker 20.10.24"
            "+dfsg1; run engine-liverestore-exited-while-down, measured on Docker 20.10",
        ),
        (
            "engine-liverestore-firewall-reload",
            "engine-liverestore-firewall-reload: flush-forward flushes the node's FORWARD chain: only on an "
            "engine node (its own network namespace), never on a ssh node's firewall; run it on the engine "
            "driver (without --node)",
        ),
    ],
)
def test_a_scenario_cell_that_does_not_fit_the_node_refuses_and_changes_nothing(clean, tmp_path, cell, words):
    clean.write(DAEMON_JSON, SEEDED)
    before = clean.state()
    forward = clean.sh("iptables -S FORWARD")

    line = ssh.one_line_refusal(run(clean, cell, tmp_path))

    assert words in line, line
    assert clean.state() == before
    assert clean.sh("iptables -S FORWARD") == forward
    assert clean.sh(LEFTOVERS).split() == []
