"""``lrmatrix run``'s cell forked from itself after the imports (lrmatrix.cli.forked_cell): the
child must be what ``python -m pytest`` was (arguments, environment, exit code, assertion
rewriting of the tests, no warning about the plugins) and must not import again what the parent
imported. The real cells' signals and teardowns are tests/test_interrupts.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lrmatrix.cli import forked_cell
from lrmatrix.errors import INTERRUPTED
from lrmatrix.options import CELL_PLUGINS

DRIVER = """
import os
import sys
from lrmatrix.cli import forked_cell

def before():
    print("before ran")
    if os.environ.get("LRM_FORK_INTERRUPT"):  # a Ctrl-C before pytest set its handlers
        raise KeyboardInterrupt
    if os.environ.get("LRM_FORK_EXIT"):
        sys.exit(os.environ["LRM_FORK_EXIT"])

forked_cell.warm()
child = forked_cell.start(sys.argv[1:], {"LRM_FORK_SEEN": "given"}, before)
code = child.wait()
print(f"child exited {code}")
sys.exit(code)
"""

TESTS = """
import atexit
import os
import threading
import time
from pathlib import Path

OUT = Path(os.environ.get("LRM_FORK_OUT", "/nonexistent"))
if OUT.is_dir():  # what an interpreter's end does: atexit handlers, non-daemon threads waited for
    atexit.register(lambda: (OUT / "atexit").write_text("ran"))
    threading.Thread(target=lambda: (time.sleep(0.3), (OUT / "thread").write_text("ran"))).start()

def test_inherited_descriptor_closed():
    fd = int(os.environ.get("LRM_FORK_FD", "-1"))
    if fd >= 0:
        try:
            os.fstat(fd)
        except OSError:
            return
        raise AssertionError(f"fd {fd} from the caller is open in the cell")

def test_env_and_name():
    assert os.environ["LRM_FORK_SEEN"] == "given"
    assert Path("/proc/self/comm").read_text().strip() == "lrmatrix-cell"

def test_rewritten():
    left, right = [1, 2], [1, 3]
    assert left == right
"""


def fork_pytest(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_in_child.py").write_text(textwrap.dedent(TESTS))
    argv = [sys.executable, "-m", "pytest", str(tmp_path / "test_in_child.py"), *args]
    return subprocess.run(
        [sys.executable, "-c", DRIVER, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        pass_fds=pass_fds,
    )


def test_the_child_is_pytest_with_its_arguments_environment_and_exit_code(tmp_path):
    res = fork_pytest(tmp_path, "-p", "no:cacheprovider", *CELL_PLUGINS, "-W", "error")
    out = res.stdout + res.stderr
    assert res.returncode == 1, out  # one test failed: pytest's code, passed through the parent
    assert "before ran" in res.stdout and "child exited 1" in res.stdout, out
    assert "1 failed, 2 passed" in out, out
    # the test module is still rewritten: pytest shows where the lists differ
    assert "At index 1 diff: 2 != 3" in out, out
    assert "PytestAssertRewriteWarning" not in out and "Traceback" not in res.stderr, out


def test_a_passing_run_exits_0_and_a_usage_error_4(tmp_path):
    passing = fork_pytest(tmp_path, "-p", "no:cacheprovider", "-k", "env")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    usage = fork_pytest(tmp_path, "--no-such-option")
    assert usage.returncode == 4, usage.stdout + usage.stderr


def test_an_interrupt_before_pytest_took_over_is_130_and_quiet(tmp_path):
    res = fork_pytest(tmp_path, env={"LRM_FORK_INTERRUPT": "1"})
    assert res.returncode == INTERRUPTED, res.stdout + res.stderr
    assert "child exited 130" in res.stdout and res.stderr == "", res.stderr


def test_sys_exit_with_a_message_is_1_and_says_it(tmp_path):
    res = fork_pytest(tmp_path, env={"LRM_FORK_EXIT": "boom before pytest"})
    assert res.returncode == 1 and "boom before pytest" in res.stderr, res.stdout + res.stderr


def test_it_ends_as_an_interpreter_ends_and_keeps_no_descriptor_of_the_caller(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    read, write = os.pipe()
    try:
        env = {"LRM_FORK_OUT": str(out), "LRM_FORK_FD": str(write)}
        res = fork_pytest(tmp_path, "-k", "inherited", env=env, pass_fds=(write,))
    finally:
        os.close(read)
        os.close(write)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (out / "atexit").read_text() == "ran"
    assert (out / "thread").read_text() == "ran"


def test_after_warm_the_plugins_import_next_to_nothing():
    """What warm() imports is what the cell's plugins would import in the child; the plugin
    modules themselves are left to pytest (it rewrites and would warn about them)."""
    probe = """
import json
import sys
import lrmatrix.cli.main
from lrmatrix.cli import forked_cell
forked_cell.warm()
assert not set(forked_cell.PLUGINS) & set(sys.modules), "a plugin was imported before pytest"
before = set(sys.modules)
for plugin in forked_cell.PLUGINS:
    __import__(plugin)
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == sorted(forked_cell.PLUGINS)


def test_imports_of_reads_modules_and_from_imports():
    found = set(forked_cell.imports_of("lrmatrix.plugin"))
    assert {"pytest", "lrmatrix.run.fixtures", "lrmatrix.drivers"} <= found  # a module; a name
    assert "lrmatrix.drivers.NodeSpec" not in found
    assert list(forked_cell.imports_of("no_such_module_here")) == []
