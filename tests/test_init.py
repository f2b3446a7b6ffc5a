"""``lrmatrix init``: the design's layout in a folder of your own, and nothing overwritten."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrmatrix.cli.init import LAYOUT
from lrmatrix.cli.main import main
from lrmatrix.matrix.cells import DEFAULT_MATRIX, load_matrix
from lrmatrix.run.sequence import PHASES

ROOT = Path(__file__).resolve().parent.parent


def test_init_writes_the_layout_with_the_default_cells(tmp_path, capsys):
    target = tmp_path / "mine"
    assert main(["init", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(LAYOUT)
    ours = (DEFAULT_MATRIX / "matrix.toml").read_text()
    theirs = (target / "matrix" / "matrix.toml").read_text()
    assert theirs.endswith(ours) and theirs.startswith("# Your matrix")  # the default, commented
    assert load_matrix(target / "matrix").names() == load_matrix(DEFAULT_MATRIX).names()
    assert sorted(p.name for p in (target / "manifests").iterdir()) == sorted(
        p.name for p in (ROOT / "manifests").iterdir()
    )
    assert "tar" in (target / "workloads" / "README.md").read_text()
    tox_ini = (target / "tox.ini").read_text()
    assert "lrmatrix==" in tox_ini and "{version}" not in tox_ini
    assert "next: cd" in capsys.readouterr().out


def test_the_example_checks_are_one_per_phase(tmp_path):
    assert main(["init", str(tmp_path)]) == 0
    tree = ast.parse((tmp_path / "infra_tests" / "test_example.py").read_text())
    phases = [
        deco.args[0].value
        for fn in tree.body
        if isinstance(fn, ast.FunctionDef)
        for deco in fn.decorator_list
        if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "phase"
    ]
    assert phases == list(PHASES)


@pytest.mark.parametrize("existing", [*LAYOUT, "infra_tests/test_x.py"])
def test_init_refuses_to_overwrite_anything_and_writes_nothing(tmp_path, existing):
    taken = tmp_path / existing
    taken.parent.mkdir(parents=True, exist_ok=True)
    taken.write_text("mine\n")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMATRIX_")}
    res = subprocess.run(
        [sys.executable, "-m", "lrmatrix", "init", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "already exists" in res.stderr
    assert res.stdout == ""
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert taken.read_text() == "mine\n"


def test_init_refuses_a_file_as_the_folder(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("")
    assert main(["init", str(target)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_cells_says_which_matrix_is_in_use(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LRMATRIX_MATRIX", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["cells"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("matrix: the default matrix packaged with lrmatrix")
    assert main(["init", "."]) == 0
    capsys.readouterr()
    assert main(["cells"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"matrix: {tmp_path.resolve() / 'matrix'}"
    monkeypatch.setenv("LRMATRIX_MATRIX", str(ROOT / "matrix"))
    assert main(["cells"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"matrix: {ROOT / 'matrix'} (LRMATRIX_MATRIX)"
