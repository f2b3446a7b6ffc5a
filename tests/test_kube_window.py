"""A Kubernetes cell's outage window against the not-ready taint's default toleration.

A node that is NotReady is tainted ``node.kubernetes.io/not-ready:NoExecute``, which every pod
tolerates for 300 s by default (DefaultTolerationSeconds, enabled by minikube): a window that
long evicts the pods, which is another experiment. The matrix refuses such a window at load,
in one line, unless it says ``accept_eviction = true``; both directions are tested here.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lrmatrix.errors import BadInput
from lrmatrix.kube import upstream
from lrmatrix.matrix.cells import Matrix, find_matrix_dir, parse_matrix

FILE = find_matrix_dir() / "matrix.toml"
DATA = tomllib.loads(FILE.read_text())


def load(edit: Any) -> Matrix:
    data = copy.deepcopy(DATA)
    edit(data)
    return parse_matrix(data, Path("matrix.toml"))


def refused(edit: Any) -> str:
    with pytest.raises(BadInput) as err:
        load(edit)
    line = str(err.value)
    assert "\n" not in line
    return line


def window(table: dict[str, Any], seconds: float) -> None:
    table.setdefault("timings", {})["outage_window_s"] = seconds


def on_platform(name: str, seconds: float, accept: bool | None = None) -> Any:
    """An edit: the platform's window, and its accept_eviction if given."""

    def edit(d: dict[str, Any]) -> None:
        window(d["platforms"][name], seconds)
        if accept is not None:
            d["platforms"][name]["accept_eviction"] = accept

    return edit


def extra_cell(name: str, seconds: float, accept: bool | None = None, platform_accepts: bool = False) -> Any:
    """An edit: an extra cell with its own window (and accept_eviction if given)."""

    def edit(d: dict[str, Any]) -> None:
        d["cells"][name] = {"timings": {"outage_window_s": seconds}}
        if accept is not None:
            d["cells"][name]["accept_eviction"] = accept
        if platform_accepts:
            d["platforms"][name.split("-")[0]]["accept_eviction"] = True

    return edit


def test_the_threshold_is_the_toleration_the_sources_give():
    assert upstream.NOT_READY_TOLERATION_S == 300.0
    assert upstream.NOT_READY_TAINTS == (
        "node.kubernetes.io/not-ready:NoSchedule",
        "node.kubernetes.io/not-ready:NoExecute",
    )


def test_a_window_under_the_toleration_loads():
    matrix = load(on_platform("k8s128", 299.9))
    assert matrix.cell("k8s128-liverestore").timings.outage_window_s == 299.9
    assert not matrix.cell("k8s128-liverestore").accept_eviction


def test_a_platform_window_of_300_s_is_refused_naming_the_taint_and_the_way_out():
    assert refused(on_platform("k8s129", 300.0)) == (
        "matrix.toml [platforms.k8s129]: outage_window_s = 300 reaches the "
        "node.kubernetes.io/not-ready:NoExecute taint's default toleration of 300 s "
        "(DefaultTolerationSeconds): the pods may be evicted, which is another experiment; use a "
        "window under 300 s, or set accept_eviction = true in [platforms.k8s129]"
    )


def test_the_table_that_set_the_window_is_named():
    def from_defaults(d: dict[str, Any]) -> None:
        window(d, 600.0)
        for name in ("k8s128", "k8s129", "k8s130", "k8s131", "k8s132", "k8s133", "k8s134"):
            del d["platforms"][name]["timings"]["outage_window_s"]

    assert refused(from_defaults).startswith("matrix.toml [timings]: outage_window_s = 600 reaches")
    line = refused(extra_cell("k8s130-liverestore-long", 420.0))
    assert line.startswith("matrix.toml [cells.k8s130-liverestore-long]: outage_window_s = 420 reaches")
    assert line.endswith("set accept_eviction = true in [cells.k8s130-liverestore-long]")


def test_accept_eviction_on_the_platform_or_the_cell_lifts_the_refusal():
    matrix = load(on_platform("k8s128", 400.0, accept=True))
    assert all(matrix.cell(f"k8s128-{v}").accept_eviction for v in ("liverestore", "noliverestore"))
    matrix = load(extra_cell("k8s130-liverestore-long", 420.0, accept=True))
    assert matrix.cell("k8s130-liverestore-long").accept_eviction
    assert not matrix.cell("k8s130-liverestore").accept_eviction


def test_a_cell_can_take_back_what_its_platform_accepted():
    edit = extra_cell("k8s128-liverestore-long", 300.0, accept=False, platform_accepts=True)
    assert refused(edit).startswith("matrix.toml [cells.k8s128-liverestore-long]: outage_window_s = 300")


def test_engine_platforms_have_no_taint_to_reach():
    matrix = load(on_platform("engine", 600.0))
    assert matrix.cell("engine-liverestore").timings.outage_window_s == 600.0
    line = refused(lambda d: d["platforms"]["engine"].update(accept_eviction=True))
    assert line == (
        "matrix.toml [platforms.engine]: accept_eviction is for minikube platforms, and this one's driver "
        "is engine; remove it"
    )


def test_accept_eviction_must_be_a_boolean():
    line = refused(lambda d: d["platforms"]["k8s128"].update(accept_eviction="yes"))
    assert line.startswith('matrix.toml [platforms.k8s128]: accept_eviction = "yes" is not allowed')
    assert line.endswith("use true or false")


def test_the_plan_of_an_accepting_cell_says_so():
    from lrmatrix.run.actions.kube import KubeOutage

    cell = load(on_platform("k8s128", 360.0, accept=True)).cell("k8s128-liverestore")
    assert "eviction accepted" in KubeOutage().describe(cell)
    assert "eviction" not in KubeOutage().describe(load(lambda d: None).cell("k8s128-liverestore"))
