"""Scenarios as data: the cells a [scenarios.<name>] table makes, its one-line refusals, the
registry of actions and checks, the sequence hook, the judgement of an observation (both
ways) and the result's scenario record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from lrmatrix.errors import BadInput
from lrmatrix.evidence.records import Deployed
from lrmatrix.evidence.store import Evidence
from lrmatrix.matrix.cells import load_matrix, parse_matrix
from lrmatrix.matrix.engine_match import refusal
from lrmatrix.results import build, model
from lrmatrix.run.actions.base import Action
from lrmatrix.run.sequence import sequence_for
from lrmatrix.scenarios import registry
from lrmatrix.scenarios.observation import Observation, mismatch, observe
from lrmatrix.workload.containers import ContainerState
from test_matrix import BASE

RESULT = Path(__file__).parent / "data" / "run-open-a" / "engine-liverestore.json"


def scenario(**overrides):
    table = {"description": "a scenario", "upstream": ["moby#1"], "checks": ["restart-count"], **overrides}
    return {"platforms": ["engine"], **table}


#: the base matrix's engine platform, on the machine's Docker, as measured on 20.10
PLATFORMS = {"engine": {**BASE["platforms"]["engine"], "scenario_docker": "20.10"}}


def parse(**scenarios):
    return parse_matrix({**BASE, "platforms": PLATFORMS, "scenarios": scenarios}, Path("m.toml"))


@dataclass(frozen=True)
class Mark(Action):
    """A do-nothing action of the tests' own, registered for the time of one test."""

    name: ClassVar[str] = "mark-test"
    word: str = "x"

    def run(self, ctx):
        return []

    def describe(self, cell):
        return f"mark {self.word}"


@pytest.fixture
def mark(monkeypatch):
    registry.discover()
    monkeypatch.setitem(registry._ACTIONS, Mark.name, Mark)
    return Mark


def test_each_platform_and_variant_of_a_scenario_is_a_cell_with_its_measured_values():
    m = parse(
        restarts=scenario(
            expect={
                "engine/liverestore": {"restart-count": "0 restarts"},
                "engine/noliverestore": {"restart-count": "1 restarts", "note": "upstream says 0"},
            },
            ci=["engine/liverestore"],
        )
    )
    assert m.names()[2:] == ["engine-liverestore-restarts", "engine-noliverestore-restarts"]
    on, off = m.cell("engine-liverestore-restarts"), m.cell("engine-noliverestore-restarts")
    assert (on.live_restore, on.expect, on.scenario.expect, on.scenario.ci) == (
        True,
        "survive",
        {"restart-count": "0 restarts"},
        True,
    )
    assert (off.scenario.expect, off.scenario.note, off.scenario.ci) == (
        {"restart-count": "1 restarts"},
        "upstream says 0",
        False,
    )
    assert m.cell("engine-liverestore").scenario is None


def test_a_scenario_left_out_of_a_variant_has_no_cell_there():
    m = parse(restarts=scenario(variants=["liverestore"], skip="the workload never comes back"))
    assert m.names()[2:] == ["engine-liverestore-restarts"]


def test_a_scenario_without_platforms_runs_on_the_three_engines(root_dir):
    cells = load_matrix(root_dir / "matrix").cells
    for c in cells:
        if c.scenario is not None:
            assert c.name == f"{c.platform}-{c.variant}-{c.scenario.name}"
            assert c.driver == "engine"


@pytest.mark.parametrize(
    ("table", "words"),
    [
        (scenario(checks=["restart-cuont"]), "[scenarios.sx]: unknown check 'restart-cuont'; use one of"),
        (scenario(checks=["restart-count", "restart-count"]), "checks names one check twice"),
        (scenario(actions={"outage": [{"action": "nope"}]}), "actions.outage[0]: unknown action 'nope'"),
        (scenario(actions={"outage": [{"action": "mark-test", "params": {"wrod": "y"}}]}), "mark-test: "),
        (
            scenario(actions={"outgae": [{"action": "mark-test"}]}),
            "[scenarios.sx.actions]: 'outgae' is not allowed",
        ),
        (scenario(platforms=["engine26"]), "platform 'engine26' is not in axes.platform"),
        (scenario(expect={"engine/lr": {}}), "expect: 'engine/lr' is none of its cells"),
        (scenario(expect={"engine/liverestore": {"restarts": "0"}}), "'restarts' is not one of its checks"),
        (scenario(ci=["engine26/liverestore"]), "ci: 'engine26/liverestore' is none of its cells"),
        (scenario(workload="redis"), "workload = 'redis' has no [workloads.redis] table"),
        (scenario(upstream=[]), "[scenarios.sx]: upstream = [] is not allowed"),
        (scenario(checks="restart-count"), 'checks = "restart-count" is not allowed'),
        ({"description": "x", "upstream": ["y"]}, "[scenarios.sx]: 'checks' is missing"),
        (scenario(variants=["liverestore"]), "variants leaves some out; say why in skip"),
        (scenario(variants=["lr"], skip="x"), "variant 'lr' is not in axes.variant"),
        (
            scenario(variants=["liverestore"], skip="x", expect={"engine/noliverestore": {}}),
            "expect: 'engine/noliverestore' is none of its cells",
        ),
    ],
)
def test_a_bad_scenario_is_one_line(mark, table, words):
    with pytest.raises(BadInput) as err:
        parse(sx=table)
    assert "\n" not in str(err.value)
    assert words in str(err.value)


def test_a_scenario_name_that_cannot_be_a_cell_name_is_refused():
    with pytest.raises(BadInput, match=r"\[scenarios\]: unknown name 'Health_Check'"):
        parse(Health_Check=scenario())


def test_the_registry_finds_the_modules_checks_and_refuses_a_second_owner_or_a_bad_name(mark):
    assert registry.checks()["restart-count"].phase == "after"
    assert registry.checks()["restart-count"].module == "lrmatrix.scenarios.checks.restarts"
    with pytest.raises(ValueError, match=r"already registered by lrmatrix\.scenarios\.checks\.restarts"):
        registry.check("restart-count")(lambda ctx: None)
    with pytest.raises(ValueError, match="already registered by test_scenarios"):
        registry.action(Mark)
    with pytest.raises(ValueError, match="does not match"):
        registry.check("Bad_Name")(lambda ctx: None)


def test_scenario_actions_are_appended_to_their_phases(mark):
    m = parse(
        sx=scenario(
            actions={
                "setup": [{"action": "mark-test", "params": {"word": "a"}}],
                "outage": [{"action": "mark-test", "params": {"word": "b"}}],
                "after": [{"action": "mark-test"}, {"action": "mark-test", "params": {"word": "c"}}],
            }
        )
    )
    plain, scen = sequence_for(m.cell("engine-liverestore")), sequence_for(m.cell("engine-liverestore-sx"))
    assert scen.setup == (*plain.setup, Mark("a"))
    assert scen.phases["outage"] == (*plain.phases["outage"], Mark("b"))
    assert scen.phases["after"] == (*plain.phases["after"], Mark(), Mark("c"))
    assert scen.phases["disrupt"] == plain.phases["disrupt"]


def test_an_observation_passes_only_at_the_measured_value():
    seen = Observation("restart-count", "after", "1 restarts", "lrm-web-1: 1")
    assert mismatch(seen, "1 restarts", "engine/liverestore", "sx") is None
    assert mismatch(seen, "0 restarts", "engine/liverestore", "sx") == (
        "restart-count: expected '0 restarts', observed '1 restarts' (lrm-web-1: 1)"
    )
    unmeasured = mismatch(seen, None, "engine/liverestore", "sx")
    assert unmeasured.startswith("restart-count: observed '1 restarts'")
    assert "no value is measured for engine/liverestore: add it to [scenarios.sx.expect]" in unmeasured


def container(name: str, restarts: int) -> ContainerState:
    return ContainerState(name, "id-" + name, True, 1, "t", restarts, 8081)


@pytest.mark.parametrize(
    ("counts", "value"),
    [((0, 0), "0 restarts"), ((1, 1), "1 restarts"), ((0, 1), "differing counts"), ((), "no container")],
)
def test_restart_count_reads_every_container(counts, value):
    workload = SimpleNamespace(snapshot=lambda: [container(f"c{i}", n) for i, n in enumerate(counts)])
    evidence = Evidence()
    evidence.add(Deployed(workload, 0.0))
    assert observe("restart-count", SimpleNamespace(evidence=evidence)).observed == value


def test_the_result_keeps_each_observation_beside_its_expectation():
    m = parse(sx=scenario(expect={"engine/liverestore": {"restart-count": "0 restarts", "note": "n"}}))
    cell = m.cell("engine-liverestore-sx")
    evidence = Evidence()
    evidence.add(Observation("restart-count", "after", "1 restarts", "d", "0 restarts"))
    summary = build.scenario_summary(cell, evidence)
    assert summary == {
        "name": "sx",
        "upstream": ["moby#1"],
        "note": "n",
        "observations": [
            {
                "check": "restart-count",
                "phase": "after",
                "expected": "0 restarts",
                "observed": "1 restarts",
                "detail": "d",
                "passed": False,
            }
        ],
    }
    data = json.loads(RESULT.read_text())
    assert "scenario" not in model.parse(data).document()
    assert model.parse({**data, "scenario": summary}).document()["scenario"] == summary


def test_plan_lists_a_scenario_cells_checks_with_the_value_each_must_observe():
    from lrmatrix.run.plan import plan_cell, render

    m = parse(sx=scenario(expect={"engine/liverestore": {"restart-count": "0 restarts"}}))
    on, off, plain = (
        m.cell(n) for n in ("engine-liverestore-sx", "engine-noliverestore-sx", "engine-liverestore")
    )
    text = render(on, plan_cell(on))
    after = text[text.index("== after") : text.index("== change")]
    assert "  ? check restart-count: The workload containers' RestartCount" in after
    assert "Must observe: '0 restarts'" in after
    assert "Must observe: 'not measured yet'" in render(off, plan_cell(off))
    assert "? check" not in render(plain, plan_cell(plain))


# --- which Docker a scenario cell's expectations hold for (lrmatrix.matrix.engine_match) -----
@pytest.mark.parametrize(
    ("cell", "node", "words"),
    [
        ("engine-liverestore-healthcheck", "20.10.24+dfsg1", None),
        ("engine-liverestore-healthcheck", "20.10.5", None),
        ("engine26-liverestore-healthcheck", "26.1.4", None),
        ("engine28-noliverestore-paused", "28.5.2", None),
        # the machine's Docker, no scenario: any engine will do
        ("engine-liverestore", "27.3.1", None),
        (
            "engine26-liverestore-healthcheck",
            "20.10.24+dfsg1",
            "engine26-liverestore-healthcheck judges against what Docker 26.1 did and node-a runs Docker "
            "20.10.24+dfsg1; run engine-liverestore-healthcheck, measured on Docker 20.10",
        ),
        (
            "engine-noliverestore-paused",
            "28.5.2",
            "run engine28-noliverestore-paused, measured on Docker 28.5",
        ),
        (
            "engine-liverestore-healthcheck",
            "27.3.1",
            "no cell of scenario healthcheck was measured on Docker 27.3 (measured: 20.10, 26.1, 28.5); "
            "measure it on a platform of that engine and add its expect",
        ),
        (
            "engine26-liverestore",
            "20.10.24",
            "engine26-liverestore is the cell of Docker 26.1 (engine docker26) and node-a runs Docker "
            "20.10.24",
        ),
    ],
)
def test_a_cell_refuses_a_node_whose_docker_its_expectations_were_not_measured_on(cell, node, words):
    why = refusal(load_matrix().cell(cell), "node-a", node)
    if words is None:
        assert why is None
    else:
        assert why is not None and words in why, why


def test_an_engine_node_knows_its_docker_from_the_pin_and_asks_the_machines_dockerd(monkeypatch):
    from lrmatrix.drivers.engine.node import EngineNode
    from lrmatrix.matrix import engines

    asked: list[str] = []
    monkeypatch.setattr(
        engines.Binaries, "docker_version", lambda self: asked.append(self.engine.name) or "27.3.1"
    )
    assert EngineNode(load_matrix().cell("engine26-liverestore-healthcheck")).engine_version() == "26.1.5"
    assert asked == [], "a pinned engine's version is its pin: nothing to run"
    assert EngineNode(load_matrix().cell("engine-liverestore-healthcheck")).engine_version() == "27.3.1"
    assert asked == ["machine"]
