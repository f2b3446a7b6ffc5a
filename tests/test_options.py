"""The options of a cell run are declared once (lrmatrix.options) and every way in takes them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lrmatrix import options
from lrmatrix.cli.main import parser

FLAGS = [o.flag for o in options.CELL_OPTIONS]


def test_the_pytest_plugin_offers_every_option():
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert [f for f in FLAGS if f not in res.stdout] == []


def test_lrmatrix_run_passes_every_option_on_as_given():
    given = [
        "--results-dir", "out", "--node", "ssh://u@h", "--allow-disruption", "--kube-context", "ctx",
        "--keep", "--image", "nginx:alpine",
    ]  # fmt: skip
    args = parser().parse_args(["run", "engine-liverestore", *given])
    assert options.passthrough(vars(args)) == given
    assert sorted(f for f in given if f.startswith("--")) == sorted(FLAGS)


def test_options_left_at_their_default_are_not_passed_on():
    args = parser().parse_args(["run", "engine-liverestore"])
    assert options.passthrough(vars(args)) == []
    assert options.driver_options(vars(args)) == {}


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["--allow-disruption", "--keep"], {"allow_disruption": "true", "keep": "true"}),
        (["--kube-context", "ctx", "--image", "x"], {"kube_context": "ctx"}),
    ],
)
def test_the_driver_gets_its_own_options_only(argv, want):
    args = parser().parse_args(["run", "engine-liverestore", *argv])
    assert options.driver_options(vars(args)) == want


def test_tox_cell_envs_run_the_same_arguments(root_dir):
    res = subprocess.run(
        [sys.executable, "-m", "tox", "config", "-e", "engine-liverestore", "-k", "commands", "--", "--keep"],
        cwd=root_dir, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    results = root_dir / options.RESULTS_DIR
    want = " ".join(options.pytest_args("engine-liverestore", results))
    assert want in res.stdout
    assert res.stdout.rstrip().endswith("--keep")


def test_pytest_n_is_refused_with_one_line_before_anything_changes(tmp_path):
    results = tmp_path / "results"
    argv = options.cell_argv("engine-liverestore", results, "-n", "2")
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    said = (res.stdout + res.stderr).strip()
    assert said.count("\n") == 0 and "xdist" in said
    assert not results.exists()


def test_pytest_n_is_refused_in_words_where_xdist_is_installed_but_not_loaded(tmp_path):
    """A cell run loads its plugins by name (options.CELL_PLUGINS): an installed xdist is not
    loaded, and -n must still be refused in one line, not be an unknown argument (exit 4)."""
    (tmp_path / "xdist").mkdir()
    (tmp_path / "xdist" / "__init__.py").write_text("")
    results = tmp_path / "results"
    argv = options.cell_argv("engine-liverestore", results, "-n", "2")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "xdist" in (res.stdout + res.stderr) and not results.exists()


def test_a_cell_run_loads_its_own_plugins_only_and_leaves_lrmatrix_unrewritten(tmp_path):
    """Autoloaded, every plugin of the venv comes in and every module of each plugin's
    distribution is assert-rewritten on import (with no bytecode cache: each run)."""
    (tmp_path / "test_seen.py").write_text(
        "import sys\n"
        "def test_seen(pytestconfig):\n"
        "    names = {n for n, _ in pytestconfig.pluginmanager.list_name_plugin()}\n"
        "    assert not {'lrmatrix', 'pytest11.testinfra', 'platformdirs'} & names, names\n"
        "    assert {'lrmatrix.plugin', 'testinfra.plugin'} <= names, names\n"
        "    assert sys.unraisablehook is sys.__unraisablehook__  # no session-end gc.collect\n"
        "    loader = type(sys.modules['lrmatrix.run.runner'].__loader__).__name__\n"
        "    assert loader != 'AssertionRewritingHook', loader\n"
    )
    argv = [sys.executable, "-m", "pytest", "-q", *options.CELL_PLUGINS, "test_seen.py"]
    res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
