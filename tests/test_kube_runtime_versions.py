"""The runtime a Kubernetes node really runs (Docker and cri-dockerd, read on the node) in the
report and in ``lrmatrix compare``: shown where a result has it, absent where none does."""

from __future__ import annotations

from pathlib import Path

from lrmatrix.cli.main import main
from lrmatrix.report.compare import compare
from lrmatrix.report.rows import build_rows
from lrmatrix.report.table import table_cells
from lrmatrix.results import files as results
from lrmatrix.results.model import Result

DATA = Path(__file__).parent / "data"


def kube_result(run: str, cell: str, docker: str, cri_dockerd: str | None) -> Result:
    """A real engine result renamed to a Kubernetes cell with the versions its node reported."""
    r = results.load(DATA / run / "engine-liverestore.json")
    r.cell, r.platform = cell, cell.split("-")[0]
    r.versions.update(docker=docker, kubernetes="v1.30.14")
    if cri_dockerd is not None:
        r.versions["cri-dockerd"] = cri_dockerd
    return r


def changes(base: Result, cand: Result) -> list[str]:
    (pair,) = compare([base], [cand]).pairs
    return [c.what for c in pair.changes if c.kind == "version"]


def test_the_report_has_a_cri_dockerd_column_beside_docker_for_kubernetes_results():
    rows = build_rows([kube_result("run-a", "k8s130-liverestore", "29.2.1", "0.4.1 (55d6e1a)")])
    header, body = table_cells(rows)
    row = dict(zip(header, body[0], strict=True))
    assert (row["docker"], row["cri-dockerd"]) == ("29.2.1", "0.4.1 (55d6e1a)")
    assert header.index("cri-dockerd") == header.index("docker") + 1


def test_engine_only_reports_have_no_cri_dockerd_column():
    header, _ = table_cells(build_rows([results.load(DATA / "run-a" / "engine-liverestore.json")]))
    assert "cri-dockerd" not in header


def test_compare_says_when_both_nodes_ran_the_same_runtime():
    base = kube_result("run-a", "k8s130-liverestore", "29.2.1", "0.4.1 (55d6e1a)")
    cand = kube_result("run-b", "k8s130-liverestore", "29.2.1", "0.4.1 (55d6e1a)")
    assert changes(base, cand) == [
        "same runtime read on both nodes: docker 29.2.1, cri-dockerd 0.4.1 (55d6e1a)"
    ]


def test_compare_lists_a_runtime_that_moved_and_does_not_call_it_the_same():
    base = kube_result("run-a", "k8s130-liverestore", "29.2.1", "0.4.1 (55d6e1a)")
    cand = kube_result("run-b", "k8s130-liverestore", "29.3.0", "0.4.2 (4e0c1b3)")
    assert changes(base, cand) == [
        "cri-dockerd 0.4.1 (55d6e1a) -> 0.4.2 (4e0c1b3)",
        "docker 29.2.1 -> 29.3.0",
    ]
    old = kube_result("run-a", "k8s130-liverestore", "29.2.1", None)  # a result from before it was read
    assert changes(old, cand) == ["cri-dockerd - -> 0.4.2 (4e0c1b3)", "docker 29.2.1 -> 29.3.0"]


def test_engine_pairs_get_no_runtime_line(capsys):
    code = main(["compare", str(DATA / "run-a"), str(DATA / "run-b")])
    out = capsys.readouterr().out
    assert code == 0 and "runtime" not in out


def test_the_runtime_line_does_not_change_a_pairs_status(tmp_path, capsys):
    for run in ("run-a", "run-b"):  # written as this lrmatrix writes a result
        results.write(kube_result(run, "k8s130-liverestore", "29.2.1", "0.4.1 (55d6e1a)"), tmp_path / run)
    code = main(["compare", str(tmp_path / "run-a"), str(tmp_path / "run-b")])
    out = capsys.readouterr().out
    assert code == 0 and "k8s130-liverestore: same behaviour" in out
    assert "~ same runtime read on both nodes: docker 29.2.1, cri-dockerd 0.4.1 (55d6e1a)" in out
