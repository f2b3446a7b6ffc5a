"""Engine cells against real dockerd: bad input, faults, interrupts and parallel runs.

Each test uses its own state folder and (where it changes the matrix) its own matrix/, and
checks afterwards that the node it made is gone (``tests/leftovers.py``): namespace, veth,
slot record, dockerd, containerd, shims, container processes by cgroup, mounts, cgroup
folders, state, scratch folders.

A Ctrl-C to tox mid-outage is tests/test_interrupts.py's case SIGINT-tox (the same tox run from
this checkout, SIGINT to tox alone): it checks the teardown this module would, and more.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import leftovers
from conftest import ROOT, engine_ready
from engine_live import turn_on_live_restore
from lrmatrix.cli.main import cell_argv
from lrmatrix.deadline import poll
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.process import become_subreaper
from lrmatrix.workload import image
from prereqs import needs

pytestmark = [
    pytest.mark.integration,
    needs(engine_ready()),
    # the tool under faults, not the length of the outage: cells run with a short window
    pytest.mark.usefixtures("short_outage_window"),
]

MATRIX = (ROOT / "matrix" / "matrix.toml").read_text()


#: what was on the machine when each test's state folder was made (by that folder)
SCOPES: dict[str, leftovers.Scope] = {}


@pytest.fixture
def env():
    """A short state folder of its own: containerd's socket paths must fit in 108 bytes."""
    state = Path(tempfile.mkdtemp(prefix="lrmt-", dir="/tmp"))
    SCOPES[str(state / "s")] = leftovers.begin(state / "s")
    yield {**os.environ, "LRMATRIX_STATE_DIR": str(state / "s"), "PYTHONUNBUFFERED": "1"}
    shutil.rmtree(state, ignore_errors=True)


def matrix_with(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "matrix"
    folder.mkdir()
    (folder / "matrix.toml").write_text(MATRIX + "\n" + extra)
    return folder


def pytest_cell(cell: str, env: dict, results: Path, *extra: str) -> subprocess.Popen:
    argv = cell_argv(cell, results, "-v", *extra)
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def assert_no_residue(env: dict, node_name: str | None = None) -> None:
    assert leftovers.left(SCOPES[env["LRMATRIX_STATE_DIR"]], [node_name] if node_name else []) == []


def test_unknown_cell_exits_2_listing_valid_cells(env, tmp_path):
    proc = pytest_cell("engine-nope", env, tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "unknown cell 'engine-nope'; valid cells: engine-liverestore" in out


def test_lrmatrix_run_unknown_cell_exits_2_before_running_anything(env, tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "lrmatrix", "run", "engine-liverestore", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("lrmatrix: unknown cell 'nope'")
    assert not Path(env["LRMATRIX_STATE_DIR"]).exists()


@pytest.mark.parametrize(("hidden", "package"), [("dockerd", "docker.io"), ("iptables", "iptables")])
def test_missing_tool_exits_2_naming_the_package(env, tmp_path, hidden, package):
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    for tool in ("dockerd", "docker", "containerd", "runc", "iptables", "ip", "nsenter", "sh", "env"):
        if tool != hidden and shutil.which(tool):
            (fakebin / tool).symlink_to(shutil.which(tool))
    proc = pytest_cell("engine-liverestore", {**env, "PATH": str(fakebin)}, tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert f"missing {package}" in out and f"apt-get install {package}" in out
    assert not Path(env["LRMATRIX_STATE_DIR"]).exists(), "something was changed before the check"


def test_daemon_that_fails_to_start_reports_its_log_and_cleans_up(env, tmp_path):
    folder = matrix_with(
        tmp_path, '[cells.engine-liverestore-badkey]\ndaemon_json = { "no-such-key" = true }\n'
    )
    proc = pytest_cell(
        "engine-liverestore-badkey", {**env, "LRMATRIX_MATRIX": str(folder)}, tmp_path / "results"
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    assert "dockerd did not start" in out and "no-such-key" in out
    result = json.loads((tmp_path / "results" / "engine-liverestore-badkey.json").read_text())
    assert result["verdict"]["observed"] == "error" and not result["verdict"]["passed"]
    assert_no_residue(env, result["node"]["name"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_outage_restores_the_node(env, tmp_path, sig):
    folder = matrix_with(tmp_path, "")
    toml = folder / "matrix.toml"
    toml.write_text(toml.read_text().replace("outage_window_s = 5.0", "outage_window_s = 30.0"))
    proc = pytest_cell("engine-liverestore", {**env, "LRMATRIX_MATRIX": str(folder)}, tmp_path / "results")
    deadline = time.monotonic() + 90
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if "test_container_processes_kept_or_gone" in line:  # we are mid-outage, daemon down
            break
        assert time.monotonic() < deadline, "never reached the outage phase"
    proc.send_signal(sig)
    out = "".join(seen) + proc.communicate(timeout=90)[0]
    assert proc.returncode != 0, out
    result = json.loads((tmp_path / "results" / "engine-liverestore.json").read_text())
    assert any(c["id"] == "node_left_clean" and c["passed"] for c in result["checks"]), out
    assert_no_residue(env, result["node"]["name"])


def test_state_folder_too_long_for_sockets_exits_2(env, tmp_path):
    deep = "/tmp/" + "d" * 80
    proc = pytest_cell("engine-liverestore", {**env, "LRMATRIX_STATE_DIR": deep}, tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "too long for containerd's unix sockets" in out
    assert not Path(deep).exists()


def test_slot_overlapping_a_network_in_use_is_skipped(env, tmp_path):
    from lrmatrix.drivers.engine import net as engine_net

    veth = "lrmtaken0"
    subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "lrmtaken1"], check=True)
    try:
        free = next(i for i in range(1, 250) if not Path(f"/run/netns/lrm{i}").exists())
        subprocess.run(["ip", "addr", "add", f"198.19.{free}.77/32", "dev", veth], check=True)
        claimed = []
        slot = engine_net.claim_slot(tmp_path, lambda s, lock: claimed.append((s, lock)))
        try:
            assert slot.index != free
        finally:
            engine_net.release(slot)
            engine_net.slot_record(slot).unlink()
            claimed[-1][1].release()
    finally:
        subprocess.run(["ip", "link", "del", veth], check=False)


@contextlib.contextmanager
def engine_node(env: dict, cell: str = "engine-liverestore") -> Iterator[EngineNode]:
    """A real engine node made in this process, removed (and its slot released) whatever
    the test does."""
    os.environ["LRMATRIX_STATE_DIR"] = env["LRMATRIX_STATE_DIR"]
    become_subreaper()
    node = EngineNode(load_matrix(ROOT / "matrix").cell(cell))
    try:
        node.create()
        yield node
    finally:
        node.destroy()
        node.release()
        del os.environ["LRMATRIX_STATE_DIR"]


def recover(env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lrmatrix", "recover"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_recover_leaves_a_live_node_alone(env):
    """(Another run's dead node may be removed meanwhile: the machine is shared.)"""
    with engine_node(env) as node:
        res = recover(env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"node {node.slot.name}\n" not in res.stdout, res.stdout
        assert node.dockerd.api_ready() and Path(node.slot.netns_path).exists()
        assert node.residue() != [] and node._own_processes(), "the live node lost something"
    assert_no_residue(env, node.slot.name)


def test_recover_removes_the_node_of_a_harness_killed_mid_outage(env, tmp_path):
    folder = matrix_with(tmp_path, "")
    toml = folder / "matrix.toml"
    toml.write_text(toml.read_text().replace("outage_window_s = 5.0", "outage_window_s = 30.0"))
    proc = pytest_cell("engine-liverestore", {**env, "LRMATRIX_MATRIX": str(folder)}, tmp_path / "results")
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        if "test_container_processes_kept_or_gone" in line:
            break
        assert time.monotonic() < deadline, "never reached the outage phase"
    proc.kill()  # no teardown at all: containers, shims and the namespace stay
    proc.wait()
    state = Path(env["LRMATRIX_STATE_DIR"])
    node_name = next(state.iterdir()).name
    elsewhere = tempfile.mkdtemp(prefix="lrmo-", dir="/tmp")  # recover need not share its setting
    res = recover({**env, "LRMATRIX_STATE_DIR": elsewhere})
    shutil.rmtree(elsewhere, ignore_errors=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"removing leftover engine node {node_name}" in res.stdout
    assert_no_residue(env, node_name)


def test_teardown_spares_processes_that_only_mention_the_node(env):
    """A user tailing the node's log is not one of the node's daemons."""
    with engine_node(env) as node:
        bystander = subprocess.Popen(["sh", "-c", "sleep 60", str(node.state_dir / "dockerd.log")])
        try:
            node.destroy()
            assert bystander.poll() is None, "teardown killed a process that is not the node's"
        finally:
            bystander.kill()
            bystander.wait()


def test_both_cells_in_parallel_do_not_disturb_each_other(env, tmp_path):
    results = tmp_path / "results"
    procs = {c: pytest_cell(c, env, results, "-q") for c in ("engine-liverestore", "engine-noliverestore")}
    outs = {c: p.communicate(timeout=180)[0] for c, p in procs.items()}
    for cell, proc in procs.items():
        assert proc.returncode == 0, outs[cell]
    live = json.loads((results / "engine-liverestore.json").read_text())
    dead = json.loads((results / "engine-noliverestore.json").read_text())
    assert live["node"]["name"] != dead["node"]["name"]
    assert live["probes"]["node"]["failed_while_down"] == 0
    assert dead["probes"]["node"]["failed_while_down"] > 0
    for r in (live, dead):
        assert_no_residue(env, r["node"]["name"])


def test_lrmatrix_run_both_cells_prints_the_matrix(env, tmp_path):
    """The README's first command (docs/index.md): both engine cells for real, then the table, exit 0."""
    res = subprocess.run(
        [sys.executable, "-m", "lrmatrix", "run", "engine-liverestore", "engine-noliverestore",
         "--results-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    table = res.stdout[res.stdout.rindex("cell  ") :]
    above = res.stdout[: res.stdout.rindex("cell  ")]  # the grid of the cells run comes first
    assert re.search(r"^engine +PASS +PASS *$", above, re.M), above[-2000:]
    assert "not in this run" in above
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.startswith("engine-")}
    assert rows["engine-liverestore"][1:4] == ["PASS", "survive", "survive"]
    assert rows["engine-noliverestore"][1:4] == ["PASS", "outage", "outage"]
    assert (tmp_path / "engine-liverestore.xml").exists() and (
        tmp_path / "engine-noliverestore.json"
    ).exists()


def test_dockerd_can_start_again_right_after_being_killed(env):
    """After SIGKILL its managed containerd dies too but, adopted by the harness, lingers as a
    zombie that the next dockerd takes for a running containerd and waits for in vain."""
    with engine_node(env, "engine-liverestore-crash") as node:
        for _ in range(25):
            containerd = int((node.exec_root / "containerd" / "containerd.pid").read_text())
            node.stop_daemon("SIGKILL")
            assert not psutil.pid_exists(containerd), "containerd (or its zombie) is still there"
            node.start_daemon()
            assert node.dockerd.api_ready()
    assert_no_residue(env, node.slot.name)


def test_a_wrong_verdict_fails_the_run_even_with_its_test_deselected(env, tmp_path):
    """Expecting 'survive' without live-restore is wrong: the run must exit 1, also with -k."""
    folder = matrix_with(tmp_path, "")
    toml = folder / "matrix.toml"
    text = toml.read_text()
    toml.write_text(
        text.replace('live_restore = false\nexpect = "outage"', 'live_restore = false\nexpect = "survive"')
    )
    assert toml.read_text() != text
    proc = pytest_cell("engine-noliverestore", {**env, "LRMATRIX_MATRIX": str(folder)}, tmp_path / "results",
                       "-k", "not verdict")  # fmt: skip
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out[-2000:]
    result = json.loads((tmp_path / "results" / "engine-noliverestore.json").read_text())
    assert result["verdict"] == {
        **result["verdict"],
        "expected": "survive",
        "observed": "outage",
        "passed": False,
    }


def test_image_option_is_refused_on_engine_nodes_before_anything_changes(env, tmp_path):
    proc = pytest_cell("engine-liverestore", env, tmp_path, "--image", "nginx:alpine")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "--image nginx:alpine: an engine node cannot pull" in out
    assert not Path(env["LRMATRIX_STATE_DIR"]).exists()


def test_teardown_removes_whatever_still_runs_in_the_nodes_namespace(env):
    """docker-proxy and anything else inside the node's namespace names no state folder; it is
    found by the namespace itself, also after the namespace was deleted."""
    with engine_node(env) as node:
        straggler = subprocess.Popen(["nsenter", f"--net={node.slot.netns_path}", "sleep", "120"])
        try:
            seen = poll(lambda: f"process {straggler.pid} " in " ".join(node.residue()), 10, 0.2)
            assert seen, "residue does not see it"
            node.destroy()
            assert straggler.wait(timeout=10) == -signal.SIGKILL, (
                "the process in the node's namespace lives on"
            )
            assert node.residue() == []
        finally:
            if straggler.poll() is None:
                straggler.kill()
                straggler.wait()


def test_an_orphan_whose_shim_was_killed_is_found_by_its_cgroup_and_ended(env):
    """With the daemon and its containerd down (live-restore), a killed shim leaves its
    container's process running, reached through no shim, no daemon and no namespace of the
    node: its cgroup is how the residue check sees it, and how the teardown ends it when the
    daemon cannot come back to remove it (here: a daemon.json it refuses)."""
    with engine_node(env) as node:
        turn_on_live_restore(node)
        cid = node.dockerd.cli_ok("run", "-d", image.image_tag(), "sleep", "300").strip()
        pid = int(node.dockerd.cli_ok("inspect", "-f", "{{.State.Pid}}", cid))
        node.stop_daemon("SIGTERM")
        shim = psutil.Process(pid).parent()
        assert "containerd-shim" in shim.name(), shim
        shim.kill()
        shim.wait(10)
        assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, "it died with its shim"
        assert f"process {pid} " in " ".join(node.residue()), node.residue()
        node.write_file(node.daemon_json_path, b'{"no-such-key": true}')
        node.destroy()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert node.residue() == []
    assert_no_residue(env, node.slot.name)


BAD_UPGRADE = """
[cells.engine-liverestore-badupgrade]
engine_after = "docker26"
daemon_json = { "storage-opts" = ["overlay2.override_kernel_check=true"] }
"""


def test_a_failed_upgrade_leaves_no_workload_running(env, tmp_path):
    """20.10 accepts the option, 26.1 refuses it: the new engine never starts, the old
    engine's containers live on under their shims (live-restore). The teardown ends them."""
    folder = matrix_with(tmp_path, BAD_UPGRADE)
    proc = pytest_cell(
        "engine-liverestore-badupgrade", {**env, "LRMATRIX_MATRIX": str(folder)}, tmp_path / "results"
    )
    out, _ = proc.communicate(timeout=300)
    assert "dockerd did not start" in out and "override_kernel_check" in out, out[-3000:]
    result = json.loads((tmp_path / "results" / "engine-liverestore-badupgrade.json").read_text())
    clean = next(c for c in result["checks"] if c["id"] == "node_left_clean")
    assert clean["passed"], clean
    assert_no_residue(env, result["node"]["name"])


#: a harness killed (SIGKILL: no teardown) right after the new engine refused to start
KILLED_AFTER_A_FAILED_UPGRADE = """
import os, signal, sys
from pathlib import Path
from lrmatrix.workload import image
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.errors import NodeError
from lrmatrix.matrix.cells import load_matrix
matrix = load_matrix(Path(sys.argv[1]))
node = EngineNode(matrix.cell("engine-liverestore-badupgrade"))
node.create()
node.write_file(node.daemon_json_path, Path(node.daemon_json_path).read_bytes().replace(
    b'"storage-driver"', b'"live-restore": true, "storage-driver"'))
node.stop_daemon("SIGTERM")
node.start_daemon()
node.import_image(str(image.cached_tarball()), image.image_tag(), image.CMD)
node.dockerd.cli_ok("run", "-d", image.image_tag(), "sleep", "300")
node.stop_daemon("SIGTERM")
node.switch_engine(matrix.engines["docker26"])
try:
    node.start_daemon()
except NodeError as exc:
    print("refused:", exc, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_recover_ends_the_orphans_of_a_harness_killed_after_a_failed_upgrade(env, tmp_path):
    """As the clean-clone CI run left them: the workload under PID 1, its shim gone, nothing
    of the harness alive. `lrmatrix recover` finds it by the node's cgroup and ends it."""
    folder = matrix_with(tmp_path, BAD_UPGRADE)
    res = subprocess.run([sys.executable, "-c", KILLED_AFTER_A_FAILED_UPGRADE, str(folder)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == -signal.SIGKILL and "refused:" in res.stdout, res.stdout + res.stderr
    assert "override_kernel_check" in res.stdout, res.stdout
    state = Path(env["LRMATRIX_STATE_DIR"])
    node_name = next(state.iterdir()).name
    cgroup = f"lrmatrix-{node_name}"
    workload = [p for p in psutil.process_iter(["name"]) if _in_cgroup(p.pid, cgroup)]
    assert workload, "the workload did not outlive its daemon"
    shims = [p for p in psutil.process_iter() if "containerd-shim" in p.name() and _in_state(p, state)]
    assert shims, "no shim kept the workload"
    before = [(p.pid, p.ppid(), p.status(), p.name()) for p in workload]
    for shim in shims:
        shim.kill()
    psutil.wait_procs(shims, timeout=10)
    after = [(p.pid, p.is_running() and p.status()) for p in workload]
    assert all(p.status() != psutil.STATUS_ZOMBIE for p in workload), f"died with its shim: {before} {after}"
    out = recover(env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"removing leftover engine node {node_name}" in out.stdout, out.stdout
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workload), "it lives on"
    assert_no_residue(env, node_name)


def _in_cgroup(pid: int, name: str) -> bool:
    return any(f"/{name}/" in path for path in leftovers.cgroups_of(pid))


def _in_state(p: psutil.Process, state: Path) -> bool:
    try:
        return str(state) in " ".join(p.cmdline())
    except psutil.Error:
        return False
