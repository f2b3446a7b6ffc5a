"""``lrmatrix plan``: every cell's steps come from its sequence, waits shown as waits with
their bounds, nothing run and nothing simulated."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from lrmatrix.cli import plan as cli_plan
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.run import plan
from lrmatrix.run.actions.disruption import Kill, Stop, SwitchEngine
from lrmatrix.run.sequence import PHASES, sequence_for

CELLS = load_matrix().cells
SRC = Path(__file__).resolve().parents[1] / "src" / "lrmatrix"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli_plan.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.name)
def test_every_cell_has_a_plan_in_phase_order(cell, capsys):
    assert main(["plan", cell.name]) == 0
    out = capsys.readouterr().out
    headings = [line[3:] for line in out.splitlines() if line.startswith("== ")]
    assert headings == ["setup", *PHASES]
    assert "dry run: nothing was executed" in out
    # every wait says what ends it and its bound
    waits = [line for line in out.splitlines() if line.startswith("  ~ ")]
    assert waits and all(re.search(r"until .+, up to \d+(\.\d+)? s", w) for w in waits), waits


def test_waits_are_shown_as_waits_with_the_cells_bounds():
    cell = load_matrix().cell("k8s130-liverestore")
    text = plan.render(cell, plan.plan_cell(cell))
    t = cell.timings
    assert f"until node Ready, up to {t.recover_timeout_s:g} s" in text
    assert f"until the outage window ends, up to {t.outage_window_s:g} s after the daemon was gone" in text
    assert f"until it is gone, up to {t.stop_timeout_s:g} s" in text


def test_the_disruption_follows_the_cell():
    """stop or kill by the cell's signal; the upgrade's engine switch before the start."""
    m = load_matrix()
    disrupt = {
        name: sequence_for(m.cell(name)).phases["disrupt"][-1]
        for name in ("engine-liverestore", "engine-liverestore-crash")
    }
    assert type(disrupt["engine-liverestore"]) is Stop and disrupt["engine-liverestore"].signal == "SIGTERM"
    assert type(disrupt["engine-liverestore-crash"]) is Kill
    upgrade = m.cell("engine-liverestore-upgrade26")
    recover = [a.name for a in sequence_for(upgrade).phases["recover"]]
    assert recover.index("upgrade") < recover.index("start")
    actions = sequence_for(upgrade).phases["recover"]
    assert next(a for a in actions if isinstance(a, SwitchEngine)).engine == upgrade.engine_after
    assert "upgrade" not in [a.name for a in sequence_for(m.cell("engine-liverestore")).phases["recover"]]
    steps = plan.plan_cell(m.cell("engine-liverestore-logflood"))
    assert [s.phase for s in steps if s.action == "load"] == ["setup"]
    assert not [s for s in plan.plan_cell(m.cell("engine-liverestore")) if s.action == "load"]


def test_kubernetes_cells_observe_through_the_api_only_when_it_lives():
    m = load_matrix()
    lr = plan.plan_cell(m.cell("k8s130-liverestore"))
    nolr = plan.plan_cell(m.cell("k8s130-noliverestore"))
    outage = {s.text for s in lr if s.phase == "outage"}
    assert any("create a pod" in t for t in outage)
    assert [s.text for s in nolr if s.phase == "outage"] == [
        "no API calls until docker is back (the API server dies with dockerd)"
    ]
    assert "kubernetes_teardown" in [s.action for s in nolr if s.phase == "teardown"]
    assert "kubernetes_teardown" not in [s.action for s in plan.plan_cell(m.cell("engine-liverestore"))]


def test_json_keeps_the_dry_run_disclaimer(capsys):
    assert main(["plan", "k8s133-noliverestore", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cell"] == "k8s133-noliverestore" and data["platform"] == "kubernetes"
    assert data["dry_run"].startswith("dry run: nothing was executed")
    assert {s["phase"] for s in data["steps"]} == {"setup", *PHASES}
    assert any(s["wait"] for s in data["steps"]) and not all(s["wait"] for s in data["steps"])


@pytest.mark.parametrize("name", ["k8s999-liverestore", "nonsense"])
def test_cli_rejects_unknown_cells_with_one_line(name, capsys):
    assert main(["plan", name]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("lrmatrix: ") and len(captured.err.strip().splitlines()) == 1
    assert "k8s128-liverestore" in captured.err, "the valid cells are not listed"
    assert captured.out == ""


def test_src_carries_no_fake_cluster_and_no_invented_versions():
    """The simulator lives in tests/contract; src/ names versions only from sourced facts."""
    assert not (SRC / "kube" / "sim.py").exists()
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert "SimCluster" not in text, path
        assert "28.4.0" not in text and "1.7.27" not in text, path
