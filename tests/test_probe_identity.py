"""What tells a path's containers apart, said per path in the result and the reports: their own
addresses, a header the workload names, or nothing (then said, never assumed)."""

from __future__ import annotations

import json
from pathlib import Path

from lrmatrix.evidence.identity import NONE, identity
from lrmatrix.evidence.probe import PathRecord, Sample, Target
from lrmatrix.evidence.serving import misdirected
from lrmatrix.evidence.verdict import Disruption
from lrmatrix.report import html, markdown
from lrmatrix.report.rows import build_rows
from lrmatrix.results import files as results
from lrmatrix.results.model import PathSummary

DATA = Path(__file__).parent / "data"
PUBLISHED = "one address per container (published port per replica)"


def answered(url: str, served_by: str = "", t: float = 0.0) -> Sample:
    return Sample(t, t, url, True, 200, 1.0, "", served_by)


def published(identify: str = "X-Served-By") -> list[Target]:
    return [
        Target(f"http://198.18.0.2:{port}{ep}", "ok", container=f"web-{i}", identify=identify)
        for ep in ("/", "/health")
        for i, port in enumerate((8081, 8082), 1)
    ]


def node_port(identify: str) -> list[Target]:
    return [Target(f"http://198.18.0.2:30081{ep}", "ok", identify=identify) for ep in ("/", "/health")]


def test_per_container_addresses_identify_on_every_path_header_or_not():
    assert identity("node", published()) == f"{PUBLISHED}, and the X-Served-By header"
    assert identity("loopback", published("")) == PUBLISHED
    pod = [Target("tcp://198.19.3.2:6379", "+PONG", container="web-1", identify="")]
    assert identity("pod", pod) == "the container's own address"


def test_a_shared_address_is_identified_only_by_a_named_header():
    assert identity("node", node_port("X-Served-By")) == "the X-Served-By header"
    assert identity("node", node_port("X-Pod")) == "the X-Pod header"
    none = identity("node", node_port(""))
    assert none == f"{NONE}: the containers behind http://198.18.0.2:30081 cannot be told apart"


def test_a_header_named_but_carried_by_no_response_is_not_claimed():
    url = "http://198.18.0.2:30081/"
    silent = [answered(url), answered(url, t=0.05)]
    said = identity("node", node_port("X-Served-By"), silent)
    assert said.startswith(f"{NONE}: the containers behind http://198.18.0.2:30081 cannot be told apart")
    assert said.endswith("(the X-Served-By header is named, but no response carried it)")
    assert identity("node", node_port("X-Served-By"), [answered(url, "pod-a")]) == "the X-Served-By header"
    own = identity("node", published(), [answered("http://198.18.0.2:8081/")])
    assert own == f"{PUBLISHED} (the X-Served-By header is named, but no response carried it)"
    assert identity("node", []) == "", "nothing probed: nothing to say"


def test_misdirection_is_judged_from_the_header_only_where_one_is_named():
    url = "http://198.18.0.2:8081/"
    samples = [answered(url, "web-1"), answered(url, "web-2", 1.0)]
    [wrong] = misdirected(samples, published())
    assert (wrong.expected, wrong.served_by, wrong.count) == ("web-1", "web-2", 1)
    assert misdirected(samples, published("")) == [], "no header named: its value proves nothing"


def test_the_result_says_each_paths_identity_and_older_results_still_load():
    record = PathRecord("node", [answered("http://198.18.0.2:30081/", t=i * 0.1) for i in range(5)])
    record.targets = node_port("")
    out = results.summarize_path(record, 0.0, Disruption(), 0.1)
    assert out["identity"].startswith(f"{NONE}: ")
    assert PathSummary.model_validate_json(json.dumps(out)).identity == out["identity"]
    old = results.load(DATA / "run-open-a" / "engine-liverestore.json")  # /2, written before it
    assert old.schema_ == "lrmatrix.result/2" and old.probes["node"].identity is None


def with_identity(cell: str, said: dict[str, str]):
    result = results.load(DATA / "run-open-a" / f"{cell}.json")
    probes = {name: p.model_copy(update={"identity": said.get(name)}) for name, p in result.probes.items()}
    return result.model_copy(update={"probes": probes})


def test_markdown_and_html_show_one_line_per_path_and_say_none_where_none():
    none = f"{NONE}: the containers behind http://198.18.0.2:30081 cannot be told apart"
    rows = build_rows(
        [
            with_identity("engine-liverestore", {"node": f"{PUBLISHED}, and the X-Served-By header"}),
            with_identity("engine-noliverestore", {"node": none, "pod": "the container's own address"}),
        ]
    )
    text = markdown.render(rows)
    assert "### What identifies the serving container" in text
    assert (
        "- **engine-liverestore** node: one address per container (published port per replica), "
        "and the X-Served-By header"
    ) in text
    assert "- **engine-noliverestore** node: none: the containers behind http://198.18.0.2:30081" in text
    assert "- **engine-noliverestore** pod: the container's own address" in text
    page = html.render(rows, [])
    assert f"<li>identity on node: {none}</li>" in page
    assert page.count('<ul class="identity">') == 2


def test_reports_of_results_without_identity_have_no_such_lines():
    rows = build_rows([results.load(DATA / "run-open-a" / "engine-liverestore.json")])
    assert "What identifies" not in markdown.render(rows)
    assert 'class="identity"' not in html.render(rows, [])


def test_downstream_judges_containers_only_where_responses_identify_them():
    """A per-container address names its container without a header; a shared one without a
    header names no one, so the result has no per-container serving to read."""
    own = Target("tcp://198.18.0.2:6381", "+PONG", container="redis-1", identify="")
    shared = Target("tcp://198.18.0.2:30079", "+PONG", identify="")
    disruption = Disruption(stop_at=1.0, start_at=2.0)
    for target, servers in ((own, ["redis-1"]), (shared, [])):
        samples = [Sample(i * 0.1, 0.0, target.url, True, 0, 1.0, "", target.container) for i in range(30)]
        out = results.summarize_path(PathRecord("node", samples, [target]), 0.0, disruption, 0.1)
        assert out["servers"] == servers and list(out["serving"]) == servers
        assert out["identity"].startswith(NONE) == (not servers)
