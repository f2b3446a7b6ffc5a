"""toxfile.py makes one tox env per matrix cell: tox is asked, through its own CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from lrmatrix.matrix.cells import load_matrix

EXTRA_CELL = """
[cells.engine-liverestore-mine]
stop_signal = "SIGKILL"
description = "a user's own cell"
"""


def tox_env(matrix=None, **more: str) -> dict[str, str]:
    """This environment without the harness's settings, with ``matrix`` as the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")}
    if matrix is not None:
        env["LRMATRIX_MATRIX"] = str(matrix)
    return env | more


def tox(root, *args: str, matrix=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tox", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=tox_env(matrix),
        timeout=120,
    )


def listed(out: str) -> dict[str, str]:
    """`tox list` rows as {env: description}."""
    rows = (line.split(" -> ", 1) for line in out.splitlines() if " -> " in line)
    return {name.strip(): desc.strip() for name, desc in rows}


def test_every_cell_is_a_tox_env_with_its_description(root_dir):
    res = tox(root_dir, "list")
    assert res.returncode == 0, res.stderr
    envs = listed(res.stdout)
    for cell in load_matrix(root_dir / "matrix").cells:
        assert cell.name in envs
        assert cell.description in envs[cell.name]
        assert f"expects {cell.expect}" in envs[cell.name]


def test_tox_ini_names_no_cell(root_dir):
    """Cells come from the matrix. One exception: the upgrade gate's ``--known-growth CELL=MS``
    names the candidate cell whose known difference CI accepts; it must be a matrix cell."""
    text = (root_dir / "tox.ini").read_text()
    known = re.findall(r"--known-growth (\S+)=\d+", text)
    cells = {c.name for c in load_matrix(root_dir / "matrix").cells}
    assert known and set(known) <= cells, known
    for spec in known:
        text = text.replace(f"--known-growth {spec}=", "--known-growth CELL=")
    named = [c for c in sorted(cells) if c in text]
    assert named == []


def test_a_cell_added_to_a_users_matrix_is_a_tox_env(root_dir, tmp_path):
    matrix = tmp_path / "matrix"
    shutil.copytree(root_dir / "matrix", matrix)
    with (matrix / "matrix.toml").open("a") as f:
        f.write(EXTRA_CELL)
    envs = listed(tox(root_dir, "list", matrix=matrix).stdout)
    assert "a user's own cell" in envs["engine-liverestore-mine"]
    assert "engine-liverestore-mine" not in listed(tox(root_dir, "list").stdout)


def selected(root, label: str) -> list[str]:
    """The envs `tox -m LABEL` runs."""
    res = tox(root, "config", "-m", label, "-k", "labels")
    assert res.returncode == 0, res.stderr
    return [line[len("[testenv:") : -1] for line in res.stdout.splitlines() if line.startswith("[testenv:")]


def test_ci_label_selects_the_harness_envs_and_exactly_the_engine_cells(root_dir):
    cells = load_matrix(root_dir / "matrix").cells
    engine = [c.name for c in cells if c.driver == "engine" and (c.scenario is None or c.scenario.ci)]
    assert len([c for c in cells if c.scenario is not None and c.scenario.ci]) <= 2, "CI time: at most 2"
    harness = ["lint", "unit", "docs", "integration", "integration-interrupts", "integration-nodes"]
    harness += ["integration-nodes-systemd", "integration-faults", "integration-scenarios", "browser"]
    harness += ["report", "upgrade-gate"]
    assert sorted(selected(root_dir, "ci")) == sorted([*harness, *engine])


def execution_order(root) -> list[str]:
    """The first line of `tox depends`, tox's own order of the envs. The tree it prints next
    has a branch per path through `depends` (94,000 lines, about a minute): not waited for."""
    argv = [sys.executable, "-m", "tox", "depends"]
    env = tox_env(PYTHONUNBUFFERED="1")  # the first line as soon as tox prints it
    with subprocess.Popen(
        argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            first = proc.stdout.readline() if proc.stdout else ""
        finally:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert first.startswith("Execution order: "), first + err
    return first.strip().removeprefix("Execution order: ").split(", ")


def test_the_report_runs_after_every_cell(root_dir):
    order = execution_order(root_dir)
    assert sorted(order[-2:]) == ["report", "upgrade-gate"]  # both read the cells' results
    assert set(load_matrix(root_dir / "matrix").names()) <= set(order)


def depends(root, envs: list[str]) -> dict[str, list[str]]:
    """`tox config -k depends` of ``envs``: env -> the envs it waits for."""
    res = tox(root, "config", "-e", ",".join(envs), "-k", "depends")
    assert res.returncode == 0, res.stderr
    out: dict[str, list[str]] = {}
    for block in res.stdout.split("[testenv:")[1:]:
        name, _, rest = block.partition("]")
        value = rest.split("depends =", 1)[1] if "depends =" in rest else ""
        out[name] = [d.strip() for d in value.replace(",", "\n").splitlines() if d.strip()]
    return out


def test_two_engine_cells_run_side_by_side_after_the_integration_envs(root_dir):
    """toxfile.py: cells_side_by_side = 2. Each engine cell waits for the one two places
    before it, so `tox -p 2` runs two at once (not three: that starved their probes), and
    every cell waits for the envs that load the machine for minutes."""
    engine = [c.name for c in load_matrix(root_dir / "matrix").cells if c.driver == "engine"]
    waits = depends(root_dir, engine[:4])
    heavy = {"integration", "integration-interrupts", "integration-faults", "integration-nodes"}
    for place, cell in enumerate(engine[:4]):
        assert heavy <= set(waits[cell]), waits[cell]
        cells_before = [d for d in waits[cell] if d in engine]
        assert cells_before == ([engine[place - 2]] if place >= 2 else []), (cell, waits[cell])


def test_scenario_cells_have_their_own_label(root_dir):
    """`tox -m scenarios` runs every scenario cell, and no platform label runs one."""
    scenario_cells = [c.name for c in load_matrix(root_dir / "matrix").cells if c.scenario is not None]
    assert scenario_cells
    assert sorted(selected(root_dir, "scenarios")) == sorted(scenario_cells)


@pytest.mark.parametrize("label", ["engine", "kubernetes", "k8s128", "ssh"])
def test_cell_labels(root_dir, label):
    """A platform's label holds the cells that run without a node of yours; ``ssh`` those that need one."""
    order = selected(root_dir, label)
    cells = load_matrix(root_dir / "matrix").cells
    kind = {"engine": "engine", "minikube": "kubernetes", "ssh": "ssh"}
    labels = {
        c.name: {kind[c.driver]} | ({c.platform} if c.driver != "ssh" else set())
        for c in cells
        if c.scenario is None
    }
    want = [name for name, theirs in labels.items() if label in theirs]
    assert sorted(order) == sorted(want)
    assert want, f"no cell has label {label}"


def test_a_broken_matrix_stops_tox_with_one_line(root_dir, tmp_path):
    matrix = tmp_path / "matrix"
    matrix.mkdir()
    (matrix / "matrix.toml").write_text('schema = "lrmatrix.matrix.cells/0"\n')
    res = tox(root_dir, "list", matrix=matrix)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "schema" in res.stderr


def test_the_checkouts_plugin_is_loaded_once_with_the_entry_point_installed(root_dir):
    """toxfile.py registers the package's plugin under the entry point's name: tox then skips
    the entry point, and each hook runs once (twice, every cell would get two loaders)."""
    from importlib.metadata import entry_points

    assert entry_points(group="tox", name="lrmatrix"), "reinstall lrmatrix: its tox entry point is missing"
    code = (
        "from pathlib import Path; from tox.plugin.manager import MANAGER;"
        "MANAGER.load_plugins(Path('tox.ini').resolve());"
        "hooks = MANAGER.manager.hook;"
        "print([i.plugin_name for h in (hooks.tox_extend_envs, hooks.tox_add_core_config) "
        "for i in h.get_hookimpls() if i.plugin_name == 'lrmatrix'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")}
    res = subprocess.run([sys.executable, "-c", code], cwd=root_dir, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "['lrmatrix', 'lrmatrix']"
    plugin = "import toxfile, lrmatrix.tox_envs as t; print(t.PROJECT.root)"
    out = subprocess.run(
        [sys.executable, "-c", plugin], cwd=root_dir, capture_output=True, text=True, env=env
    )
    assert out.stdout.strip() == str(root_dir)


def test_a_users_repository_gets_one_env_per_cell_from_the_entry_point(tmp_path):
    """No toxfile.py: the installed package's plugin makes the envs of the user's own matrix,
    each installing the very lrmatrix tox runs."""
    from lrmatrix.cli.main import main

    assert main(["init", str(tmp_path)]) == 0
    with (tmp_path / "matrix" / "matrix.toml").open("a") as f:
        f.write(EXTRA_CELL)
    res = tox(tmp_path, "list")
    assert res.returncode == 0, res.stderr
    envs = listed(res.stdout)
    assert set(load_matrix(tmp_path / "matrix").names()) == set(envs)
    assert "a user's own cell" in envs["engine-liverestore-mine"]
    conf = tox(tmp_path, "config", "-e", "engine-liverestore", "-k", "deps", "skip_install", "commands")
    assert "skip_install = True" in conf.stdout
    assert "deps = lrmatrix[ssh]" in conf.stdout
    assert "pytest --pyargs lrmatrix.infra_tests --cell engine-liverestore" in conf.stdout


def test_a_project_without_a_matrix_gets_no_cell_envs(tmp_path):
    (tmp_path / "tox.ini").write_text(
        "[tox]\nenv_list = a\n[testenv:a]\nskip_install = true\ncommands = python -V\n"
    )
    res = tox(tmp_path, "list")
    assert res.returncode == 0, res.stderr
    assert list(listed(res.stdout)) == ["a"]
