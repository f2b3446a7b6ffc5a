"""Drivers are plugins: a driver another distribution registers in the ``lrmatrix.drivers``
entry-point group, with no file of lrmatrix edited, is a driver of the matrix (its name and
its platform keys), of tox (labels, extras, settings), of the CI workflows and of recover;
and the built-in drivers are found from the checkout's pyproject.toml when lrmatrix is not
installed (tox loading toxfile.py from a tox of its own)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lrmatrix.cli import ci_workflows
from lrmatrix.cli.main import main
from lrmatrix.drivers import registry
from lrmatrix.errors import BadInput, EnvironmentProblem
from lrmatrix.matrix.cells import load_matrix
from prereqs import import_module

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = Path(__file__).resolve().parent / "plugins" / "lrmatrix_fake_driver.py"
MATRIX = """\
schema = "lrmatrix.matrix.cells/1"

[axes]
platform = ["engine9"]
variant = ["liverestore"]

[platforms.engine9]
driver = "fake"
fake_racks = 2
description = "nodes of the fake driver"

[variants.liverestore]
live_restore = true
expect = "survive"
description = "a cell of the fake driver"
"""
CELL = "engine9-liverestore"


def dist_info(folder: Path, name: str, entry: str) -> None:
    """What pip writes for a distribution: its metadata and its entry points."""
    info = folder / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{entry}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder as pip would fill it: the plugin's module and its dist-info (entry point)."""
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(PLUGIN, folder / PLUGIN.name)
    dist_info(folder, "lrmatrix_fake_driver", "fake = lrmatrix_fake_driver:FakeDriver")
    return folder


@pytest.fixture
def matrix_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "matrix"
    folder.mkdir()
    (folder / "matrix.toml").write_text(MATRIX)
    return folder


@pytest.fixture
def installed(site: Path, matrix_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The plugin on sys.path of this process, the fake matrix its matrix."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("LRMATRIX_MATRIX", str(matrix_dir))
    registry.clear()
    yield site
    monkeypatch.undo()
    registry.clear()


def test_without_the_plugin_its_driver_is_unknown(matrix_dir):
    registry.clear()
    text = (matrix_dir / "matrix.toml").read_text()
    (matrix_dir / "matrix.toml").write_text(text.replace("fake_racks = 2\n", ""))
    with pytest.raises(BadInput, match=r'driver = "fake" is not allowed .* use one of "engine", "minikube"'):
        load_matrix(matrix_dir)


def test_its_cells_are_cells_of_the_matrix(installed, capsys):
    assert "fake" in registry.names()
    assert main(["cells"]) == 0
    assert f"{CELL}  driver=fake" in capsys.readouterr().out


def test_its_platform_keys_are_its_own(installed, matrix_dir):
    """Its key is refused on another driver's platform, and another's on its platforms."""
    text = (matrix_dir / "matrix.toml").read_text()
    (matrix_dir / "matrix.toml").write_text(text.replace('driver = "fake"', 'driver = "engine"'))
    with pytest.raises(
        BadInput, match=r"\[platforms.engine9\]: fake_racks is for fake platforms, .* is engine"
    ):
        load_matrix(matrix_dir)
    (matrix_dir / "matrix.toml").write_text(text.replace("fake_racks = 2", 'kubernetes = "v1.28.15"'))
    with pytest.raises(
        BadInput, match=r"kubernetes is for minikube platforms, and this one's driver is fake"
    ):
        load_matrix(matrix_dir)
    (matrix_dir / "matrix.toml").write_text(text.replace("fake_racks = 2", 'fake_racks = "2"'))
    with pytest.raises(BadInput, match=r'\[platforms.engine9\]: fake_racks = "2" is not allowed'):
        load_matrix(matrix_dir)


def test_the_ci_workflow_runs_its_cells_with_its_setup(installed, matrix_dir):
    yaml = import_module("yaml", 'pip install "lrmatrix[ci]"')
    doc = yaml.safe_load(ci_workflows.render("github", load_matrix(matrix_dir)))
    cells = doc["jobs"]["cells"]
    assert cells["strategy"]["matrix"]["include"] == [{"cell": CELL, "driver": "fake", "root": False}]
    setup = {"name": "set up the fake driver", "if": "matrix.driver == 'fake'"}
    assert {**setup, "run": "echo set up the fake driver for 1 cells"} in cells["steps"]


def test_recover_asks_it(installed, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LRMATRIX_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["recover", "--node", "fake://rack-1"]) == 0
    assert capsys.readouterr().out == "fake: undid 1 cells' runs on rack-1\n"
    assert main(["recover"]) == 0  # the engine driver finds no engine cell in this matrix
    assert capsys.readouterr().out == "fake: undid 1 cells' runs here\n"


def test_tox_makes_its_cell_env_with_its_settings(site, matrix_dir):
    """tox, through its own CLI, with the plugin on PYTHONPATH as a user's install would be."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")}
    env.update(LRMATRIX_MATRIX=str(matrix_dir), PYTHONPATH=str(site))
    keys = ["labels", "extras", "pass_env"]
    res = subprocess.run(
        [sys.executable, "-m", "tox", "config", "-e", CELL, "-k", *keys],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    config = tox_config(res.stdout)
    assert config["labels"] == ["ci", "engine9", "fake"]
    assert config["extras"] == ["ci"]
    assert "FAKE_HOME" in config["pass_env"]


def tox_config(out: str) -> dict[str, list[str]]:
    """`tox config` output as {key: values}: ``key = value``, or ``key =`` and indented values."""
    found: dict[str, list[str]] = {}
    key = ""
    for line in out.splitlines():
        if line.startswith(" ") and key:
            found[key].append(line.strip())
        elif " =" in line:
            key, _, value = line.partition(" =")
            found[key] = [value.strip()] if value.strip() else []
    return found


@pytest.mark.parametrize("scheme", ["engine", "minikube", "ssh"])
def test_each_built_in_driver_names_its_node(scheme):
    """The declaration and the node it names agree on the scheme (``Node.scheme`` is in messages)."""
    import_module("paramiko", 'pip install "lrmatrix[ssh]"')
    assert registry.get(scheme).node_class().scheme == scheme


def test_the_checkout_names_the_built_in_drivers_without_metadata():
    """``python -S``: no site-packages, so no installed lrmatrix and no entry points but the
    checkout's pyproject.toml, as for tox run from a tox that has no lrmatrix installed."""
    code = "from lrmatrix.drivers import registry; print(' '.join(registry.names()))"
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": os.environ.get("PATH", "")}
    res = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["engine", "minikube", "ssh"]


def test_a_broken_plugin_is_one_line(tmp_path, monkeypatch):
    site = tmp_path / "broken"
    dist_info(site, "broken_driver", "broken = no_such_module:Driver")
    monkeypatch.syspath_prepend(str(site))
    registry.clear()
    try:
        with pytest.raises(
            EnvironmentProblem, match=r"^the broken driver \(no_such_module:Driver, .* cannot be loaded"
        ):
            registry.get("broken")
    finally:
        monkeypatch.undo()
        registry.clear()
