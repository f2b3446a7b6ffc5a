"""``lrmatrix report`` from real engine results: table, Markdown, HTML, timelines, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from lrmatrix.report import html, markdown, terminal, timeline
from lrmatrix.report.rows import build_rows
from lrmatrix.report.svg import stack
from lrmatrix.report.table import table_cells
from lrmatrix.results import files as results
from lrmatrix.results.model import Disruption, Result

DATA = Path(__file__).parent / "data"
CELLS = ("engine-liverestore", "engine-noliverestore")
MATRIX = [
    ("engine-liverestore", "survive"),
    ("engine-noliverestore", "outage"),
    ("k8s128-liverestore", "survive"),
]


def real(cell: str, run: str = "run-a") -> Result:
    return results.load(DATA / run / f"{cell}.json")


def raw(cell: str, run: str = "run-a") -> dict:
    """The file as written (a /1 document), to derive a changed one from."""
    return results.read_json(DATA / run / f"{cell}.json")


def model(data: dict) -> Result:
    """A derived document as report reads it (through the /1 reader for a /1 document)."""
    return results.validate(data, Path(f"{data['cell']}.json"))


def write(folder: Path, result: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{result['cell']}.json")
    path.write_text(json.dumps(result))
    return path


def test_terminal_table_from_real_results():
    out = terminal.render(build_rows([real(c) for c in CELLS], MATRIX))
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["cell", "result", "expected", "observed"]  # under a 2-line header
    liverestore = next(line for line in lines if line.startswith("engine-liverestore "))
    assert liverestore.split()[1:4] == ["PASS", "survive", "survive"]
    assert "0/100" in liverestore  # node path: nothing failed while dockerd was down
    nolr = next(line for line in lines if line.startswith("engine-noliverestore "))
    assert nolr.split()[1:4] == ["PASS", "outage", "outage"]
    assert next(line for line in lines if line.startswith("k8s128-liverestore ")).split()[1:3] == [
        "NOT",
        "RUN",
    ]
    assert "engine-liverestore: loopback path fails while dockerd is down" in out


ALL_ENGINES = DATA / "run-engines"


def test_the_default_table_fits_120_columns_and_wide_shows_every_column():
    rows = build_rows(results.load_many([ALL_ENGINES]), [])
    default = terminal.render(rows)
    assert max(len(line) for line in default.splitlines()) <= 120
    assert re.search(r"^engine26-liverestore-downgrade20 +PASS", default, re.M)  # no name cut short
    wide = terminal.render(rows, wide=True)
    assert max(len(line) for line in wide.splitlines()) > 120
    header, _ = table_cells(rows)  # every column, as Markdown and HTML show them
    assert [h for h in header if h not in wide] == []
    assert "containerd" not in default and "20.10.24+dfsg1" not in default
    assert "\x1b[" not in default + wide  # plain unless asked for colour


def test_colour_only_when_asked_for():
    rows = build_rows([real("engine-liverestore")])
    assert "\x1b[" in terminal.render(rows, color=True)
    assert terminal.render(rows, color=False) == terminal.render(rows)


def test_lrmatrix_report_wide_flag(capsys):
    assert main(["report", str(ALL_ENGINES), "--no-matrix", "--wide"]) == 0
    wide = capsys.readouterr().out
    assert main(["report", str(ALL_ENGINES), "--no-matrix"]) == 0
    default = capsys.readouterr().out
    assert "containerd" in wide and "containerd" not in default
    assert max(len(line) for line in default.splitlines()) <= 120


def test_failed_cell_shows_fail_and_reason():
    bad = raw("engine-liverestore")
    bad["verdict"].update(observed="outage", passed=False, reason="12/100 requests failed while down")
    bad["checks"][0]["passed"] = False
    out = terminal.render(build_rows([model(bad)]))
    assert out.splitlines()[3].split()[:4] == ["engine-liverestore", "FAIL", "survive", "outage"]
    assert "verdict: 12/100 requests failed while down" in out
    assert f"failed check {bad['checks'][0]['phase']}/{bad['checks'][0]['id']}" in out


def test_markdown_table_has_a_row_per_cell_and_equal_columns():
    out = markdown.render(build_rows([real(c) for c in CELLS], MATRIX))
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(MATRIX)
    widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
    assert len(widths) == 1, table
    assert "### Findings" in out
    assert "Not run (no result file): k8s128-liverestore" in out


def test_markdown_escapes_cell_text():
    r = raw("engine-liverestore")
    r["findings"] = ["a | b with *stars* and [link](x)"]
    out = markdown.render(build_rows([model(r)]))
    assert r"a \| b with \*stars\* and \[link\](x)" in out


def test_timeline_spans_match_the_real_outage():
    tl = timeline.from_result(real("engine-liverestore"))
    events = {e.label: e.t for e in tl.events}
    assert tl.down == (events["daemon stopping"], events["daemon started"])
    lanes = {lane.path: lane for lane in tl.lanes}
    assert [lane.path for lane in tl.lanes] == ["node", "loopback"]
    # loopback goes through docker-proxy: one long failed span while dockerd is down
    longest = max((s for s in lanes["loopback"].spans if not s.ok), key=lambda s: s.end - s.start)
    assert longest.end - longest.start > 3.5
    assert tl.down[0] <= longest.start + 1.1 and longest.end <= tl.down[1] + 0.5
    # node path (iptables DNAT) keeps answering while down: no failed span inside the window
    assert not [s for s in lanes["node"].spans if not s.ok and tl.down[0] <= s.start < tl.down[1] - 0.5]
    assert sum(s.requests for s in lanes["node"].spans) == lanes["node"].sent


def test_timeline_node_path_fails_without_live_restore():
    tl = timeline.from_result(real("engine-noliverestore"))
    node = next(lane for lane in tl.lanes if lane.path == "node")
    failed = [s for s in node.spans if not s.ok]
    assert failed and failed[0].end - failed[0].start > 5


def test_spans_merge_runs_of_one_outcome():
    spans = timeline.spans([[0.0, 1, 1.0], [0.1, 1, 3.0], [0.2, 0, 0.0], [0.3, 1, 2.0]], 0.1)
    assert [(s.ok, s.requests) for s in spans] == [(True, 2), (False, 1), (True, 1)]
    assert spans[0].max_latency_ms == 3.0
    assert spans[-1].end == pytest.approx(0.4)


def test_close_labels_are_stacked_not_overlapped():
    placed = stack([(300.0, "daemon stopping"), (310.0, "daemon stopped"), (700.0, "config changed")])
    rows = {text: row for _, row, text in placed}
    assert rows["daemon stopping"] != rows["daemon stopped"]
    assert rows["config changed"] == 0


def test_html_is_self_contained_and_escaped():
    data = raw("engine-liverestore")
    data["findings"] = ['<script>alert("x")</script> & more']
    data["events"].append({"name": "<b>odd</b>", "t": 5.0, "at": "", "detail": '"quoted"'})
    r = model(data)
    page = html.render(build_rows([r, real("engine-noliverestore")], MATRIX), [timeline.from_result(r)])
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page
    for fetch in ("<link", " src=", "@import", "url(", "https://"):
        assert fetch not in page
    assert page.count("<svg") == 1  # noliverestore got no timeline passed in: no chart, no crash
    assert page.count('<tr data-cell="') == len(MATRIX)
    assert '<li id="cell-k8s128-liverestore">k8s128-liverestore (expected survive)</li>' in page


def test_cli_report_formats(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).parent.parent)  # matrix/ is found from here
    assert main(["report", str(DATA / "run-a")]) == 0
    assert "k8s128-liverestore" in capsys.readouterr().out  # the matrix's cells without results
    out = tmp_path / "r" / "report.html"
    assert main(["report", str(DATA / "run-a"), "--format", "html", "--output", str(out)]) == 0
    assert out.read_text().count("<svg") == 2
    assert main(["report", str(DATA / "run-a"), "--format", "markdown", "--no-matrix"]) == 0
    assert "k8s128" not in capsys.readouterr().out


def test_cli_report_exits_1_when_a_cell_failed(tmp_path):
    bad = raw("engine-liverestore")
    bad["verdict"].update(observed="outage", passed=False)
    assert main(["report", str(write(tmp_path, bad)), "--no-matrix"]) == 1


def _fails_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("lrmatrix: ")
    for word in words:
        assert word in err


def test_bad_input_other_schema(tmp_path, capsys):
    old = dict(raw("engine-liverestore"), schema="lrmatrix.result/0")
    _fails_with_one_line(["report", str(write(tmp_path, old))], capsys, "schema", "lrmatrix.result/0")


def test_bad_input_truncated_and_not_json(tmp_path, capsys):
    text = (DATA / "run-a" / "engine-liverestore.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    _fails_with_one_line(["report", str(cut)], capsys, "cut.json", "truncated")
    junk = tmp_path / "junk.json"
    junk.write_text("<html>not a result</html>")
    _fails_with_one_line(["report", str(junk)], capsys, "junk.json", "not JSON")


def test_bad_input_two_results_for_one_cell(tmp_path, capsys):
    first = raw("engine-liverestore", "run-a")
    later = raw("engine-liverestore", "run-b")
    assert later["started_at"] > first["started_at"]
    write(tmp_path, first, "a.json")
    write(tmp_path, later, "b.json")
    _fails_with_one_line(
        ["report", str(tmp_path)], capsys, "two results for cell engine-liverestore", "--newest"
    )
    assert main(["report", str(tmp_path), "--newest", "--no-matrix", "--format", "markdown"]) == 0
    later_loopback = later["probes"]["loopback"]
    assert (
        f"{later_loopback['failed_while_down']}/{later_loopback['sent_while_down']}"
        in capsys.readouterr().out
    )


def test_bad_input_missing_path_and_empty_folder(tmp_path, capsys):
    _fails_with_one_line(["report", str(tmp_path / "nope")], capsys, "no such file")
    _fails_with_one_line(["report", str(tmp_path)], capsys, "no result files")


def pod(name: str, restarts: int) -> dict:
    return {
        "name": name,
        "uid": name,
        "phase": "Running",
        "ready": True,
        "restarts": restarts,
        "ip": "",
        "waiting": "",
    }


def ready(status: str) -> dict:
    return {"t": 0.0, "seen_at": "", "status": status, "reason": "", "message": "", "since": "", "taints": []}


def test_kubernetes_columns_appear_with_kubernetes_results():
    r = raw("engine-liverestore")
    r["cell"], r["versions"]["kubernetes"] = "k8s130-liverestore", "v1.30.14"
    r["containers"] = {"before": [], "after": [], "pids_kept": None}
    r["kubernetes"] = {
        "namespace": "lrm-k8s130-liverestore",
        "node": "lrm-k8s130",
        "node_ready_timeline": [ready("True"), ready("Unknown"), ready("True")],
        "pods": {
            "before": [pod("web-a", 0), pod("web-b", 1)],
            "during": [],
            "after": [pod("web-a", 2), pod("web-c", 0)],
        },
        "outage_pod": [],
        "nginx_version": "",
    }
    header, body = table_cells(build_rows([model(r), real("engine-noliverestore")]))
    engine, k8s = (dict(zip(header, line, strict=True)) for line in body)
    # web-a restarted twice and web-b was replaced; Ready went True -> Unknown -> True
    assert (k8s["restarts"], k8s["node Ready transitions"], k8s["kubernetes"]) == ("3", "2", "v1.30.14")
    assert (engine["restarts"], engine["node Ready transitions"], engine["kubernetes"]) == ("2", "-", "-")


def test_engine_only_tables_have_no_kubernetes_columns():
    header, _ = table_cells(build_rows([real(c) for c in CELLS]))
    assert "kubernetes" not in header and "node Ready transitions" not in header


NEVER = dict.fromkeys(("stop_at", "stopped_at", "start_at", "api_at", "change_at", "came_back_at"))


@pytest.mark.parametrize(
    ("times", "down"),
    [
        ({"stop_at": 1.0, "stopped_at": 1.4, "start_at": 6.0, "api_at": 6.5}, (1.0, 6.5)),
        # the stop is the first upgrade command; the API answers once the new dockerd is up
        ({"stop_at": 2.0, "stopped_at": 9.1, "start_at": 9.2, "api_at": 9.6}, (2.0, 9.6)),
        ({"stop_at": 3.0, "stopped_at": 3.1, "start_at": 3.4, "api_at": 3.7}, (3.0, 3.7)),  # respawn
        ({"stop_at": 3.0, "stopped_at": 3.1, "start_at": 8.1}, None),  # never back: no interval
        ({}, None),  # never stopped
    ],
    ids=["stop", "package-upgrade", "respawn", "never-back", "never-stopped"],
)
def test_the_charts_down_interval_for_every_kind_of_disruption(times, down):
    d = Disruption(**{**NEVER, **times}, came_back="", daemon_watch=None, docker_proxy=None, nat=None)
    assert timeline.down(d) == down


def test_the_chart_reads_the_disruption_record_not_the_event_words():
    data = raw("engine-liverestore", "run-e")
    for e in data["events"]:
        e["name"] = e["name"].replace("daemon", "engine")
    tl = timeline.from_result(model(data))
    d = data["disruption"]
    assert (
        tl.down
        == (d["stop_at"], d["api_at"])
        == timeline.from_result(real("engine-liverestore", "run-e")).down
    )


def test_a_v1_file_without_a_disruption_record_gets_it_from_its_events():
    """run-a predates the record: the /1 reader takes its times from the events, once."""
    r = real("engine-liverestore")
    said = {e.name: e.t for e in r.events}
    assert (r.disruption.stop_at, r.disruption.stopped_at) == (
        said["daemon stopping"],
        said["daemon stopped"],
    )
    assert (r.disruption.start_at, r.disruption.api_at) == (said["daemon starting"], said["daemon started"])
    assert r.disruption.change_at is None  # run-a said "config changed" only: not when it began
