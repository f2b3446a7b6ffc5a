"""The ssh driver against real staging nodes (sshnode.py): Debian's docker.io under its sysvinit
script, and a booted systemd with the real docker.service and docker.socket (systemdnode.py).

The engine cells run end to end through SSH on both; the refusals exit 2 with one line and
leave the node as it was; daemon.json comes back byte-identical, checked from the node's own
console (and none again on a node that had none: test_ssh_other_containers' runs start so).
The systemd node's sshd has no SFTP subsystem at all: files go over exec channels.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sshnode
import systemdnode
import testinfra.host
from sshnode import DAEMON_JSON, NO_DOCKER_PORT, SEEDED, StagingNode, SysvNode, driver

from conftest import ROOT
from lrmatrix.cli.main import cell_argv
from lrmatrix.deadline import poll
from lrmatrix.drivers import NodeSpec
from lrmatrix.errors import BadInput, EnvironmentProblem, NodeError
from lrmatrix.evidence.verdict import Verdict, with_caveat
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.workload import image
from lrmatrix.workload.containers import LABEL, NAME_PREFIX
from prereqs import import_module, needs, require

if TYPE_CHECKING:
    from _pytest.mark import ParameterSet

import_module("paramiko", 'pip install "lrmatrix[ssh]"')
from lrmatrix.drivers.ssh.node import SshNode  # noqa: E402 (needs paramiko)

integration = pytest.mark.integration
# the tool under test, not the length of the outage: its cells run with a short window
pytestmark = pytest.mark.usefixtures("short_outage_window")
#: the console samples every 0.1 s (a loop of date, the unit's state and pidof); a loaded machine
#: stretches a round, but a span this long without a sample would leave dockerd's return unseen
CONSOLE_GAP_S = 0.5
FLAVOURS: dict[str, tuple[type[StagingNode], str | None]] = {
    "sysvinit": (SysvNode, sshnode.why_not_ready()),
    "systemd": (systemdnode.SystemdNode, systemdnode.why_not_ready()),
}


def flavour(name: str) -> ParameterSet:
    """A staging node flavour as a parameter, marked with what it needs that is missing."""
    why_not = FLAVOURS[name][1]
    marks = [needs(why_not and f"{name} staging node: {why_not}")]
    if name == "systemd":
        marks.append(pytest.mark.systemd_node)
    return pytest.param(name, marks=marks, id=name)


SYSV_ONLY = pytest.mark.parametrize("staging", [flavour("sysvinit")], indirect=True)


def run_cell(cell: str, spec: str, results: Path, env: dict[str, str] | None, *extra: str):
    argv = cell_argv(cell, results, "--node", spec, "-q", *extra)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def one_line_refusal(res: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 with the reason as one line on stderr (pytest.exit's), and no traceback."""
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Exit: "), out
    assert "Traceback" not in out, out
    return lines[0]


# --- without a node -------------------------------------------------------------------------
def test_refuses_without_allow_disruption_before_connecting():
    node = SshNode(load_matrix().cell("engine-liverestore"), NodeSpec.parse("ssh://root@198.18.200.2"))
    with pytest.raises(BadInput, match="--allow-disruption"):
        node.sanity_checks()
    assert node.transport._client is None, "it connected before refusing"


@pytest.mark.parametrize("cell", [c.name for c in load_matrix().cells if c.expect_paths])
def test_refuses_cells_that_expect_the_loopback_path(cell):
    spec = NodeSpec.parse("ssh://root@198.18.200.2", {"allow_disruption": "true"})
    node = SshNode(load_matrix().cell(cell), spec)
    with pytest.raises(BadInput, match="cannot probe"):
        node.sanity_checks()
    assert node.transport._client is None, "it connected before refusing"


def test_cli_without_allow_disruption_exits_2(tmp_path):
    res = run_cell("engine-liverestore", "ssh://root@198.18.200.2", tmp_path, None)
    assert "pass --allow-disruption" in one_line_refusal(res)
    assert not list(tmp_path.iterdir()), "a refused run wrote results"


def test_port_0_is_refused_not_taken_for_22():
    with pytest.raises(BadInput, match="has port 0; give the node's SSH port"):
        NodeSpec.parse("ssh://root@127.0.0.1:0")
    assert NodeSpec.parse("ssh://root@127.0.0.1:2222").port == 2222
    assert NodeSpec.parse("ssh://root@127.0.0.1").port is None


def test_cli_refuses_port_0_before_anything(tmp_path):
    res = run_cell("engine-liverestore", "ssh://root@127.0.0.1:0", tmp_path, None, "--allow-disruption")
    assert "has port 0" in one_line_refusal(res)


@pytest.mark.parametrize(
    ("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("[::1]", True), ("198.18.200.2", False)]
)
def test_a_loopback_node_address_is_a_caveat(host, loopback):
    node = SshNode(load_matrix().cell("engine-liverestore"), NodeSpec.parse(f"ssh://root@{host}"))
    caveat = node._loopback_caveat()
    assert (caveat is not None) is loopback
    if loopback:
        assert "goes through docker-proxy" in caveat and "say nothing about live-restore" in caveat


@pytest.mark.parametrize(
    ("observed", "becomes"),
    [("outage", "inconclusive"), ("unrecovered", "inconclusive"), ("survive", "survive"), ("error", "error")],
)
def test_a_loopback_node_path_never_reports_a_live_restore_failure(observed, becomes):
    caveat = "the node address 127.0.0.1 is loopback: ..."
    v = with_caveat(Verdict("survive", observed, "139/162 requests failed while down"), caveat)
    assert v.observed == becomes and v.reason.startswith(caveat) and "139/162" in v.reason
    assert with_caveat(Verdict("survive", observed, "r"), None) == Verdict("survive", observed, "r")


# --- against the staging nodes --------------------------------------------------------------
@pytest.fixture(scope="module", params=[flavour(name) for name in FLAVOURS])
def staging(request: pytest.FixtureRequest) -> Iterator[StagingNode]:
    node_class, why_not = FLAVOURS[request.param]
    require(why_not and f"{request.param} staging node: {why_not}")
    with node_class.running() as node:
        yield node


@pytest.fixture
def clean(staging: StagingNode) -> Iterator[StagingNode]:
    """Each test starts from a node with no daemon.json and dockerd running, like a fresh Debian."""
    staging.remove(DAEMON_JSON)
    staging.sh(staging.ENSURE_DOCKER)
    staging.wait_docker()
    yield staging


REFUSALS = {
    # case: (spec suffix, environment override, what the one line says)
    "unknown-host-key": ("", {"LRMATRIX_SSH_KNOWN_HOSTS": "{tmp}/empty"}, "is not in {tmp}/empty"),
    "changed-host-key": ("", {"LRMATRIX_SSH_KNOWN_HOSTS": "{tmp}/other"}, "does not match"),
    "wrong-client-key": ("", {"LRMATRIX_SSH_KEY": "{other_key}"}, "SSH authentication as root"),
    "unreachable": (":2222", {}, "cannot reach root@198.18.200.2:2222"),
    "no-docker": (f":{NO_DOCKER_PORT}", {}, "has no Docker engine"),
}


@integration
@SYSV_ONLY
@pytest.mark.parametrize("case", REFUSALS)
def test_refusal_exits_2_and_changes_nothing(clean, tmp_path, case):
    suffix, override, expected = REFUSALS[case]
    (tmp_path / "empty").write_text("")
    host_entry = clean.known_hosts.read_text().splitlines()[0].split()
    stranger = Path(f"{clean.other_key}.pub").read_text().split()
    (tmp_path / "other").write_text(f"{host_entry[0]} {stranger[0]} {stranger[1]}\n")
    fill = {"tmp": str(tmp_path), "other_key": str(clean.other_key)}
    env = clean.client_env(**{k: v.format(**fill) for k, v in override.items()})
    clean.write(DAEMON_JSON, SEEDED)
    before = clean.state()

    res = run_cell("engine-liverestore", clean.spec + suffix, tmp_path / "results", env, "--allow-disruption")

    assert expected.format(**fill) in one_line_refusal(res)
    assert clean.state() == before


@integration
@SYSV_ONLY
def test_testinfra_backend_checks_host_keys(clean, tmp_path):
    (tmp_path / "empty").write_text("")
    stranger = driver(clean, known_hosts=str(tmp_path / "empty"))
    with pytest.raises(EnvironmentProblem, match="never accepts unknown host keys"):
        testinfra.host.Host(stranger.testinfra_backend()).run("true")

    node = driver(clean)
    host = testinfra.host.Host(node.testinfra_backend())
    assert host.check_output("hostname") == "lrmssh-node"
    assert host.file("/etc/init.d/docker").exists
    node.close()


@integration
@pytest.mark.parametrize(
    ("cell", "observed"), [("engine-liverestore", "survive"), ("engine-noliverestore", "outage")]
)
def test_engine_cell_end_to_end_restores_the_node(clean, tmp_path, cell, observed):
    clean.write(DAEMON_JSON, SEEDED)
    inode = clean.sh(f"stat -c %i {DAEMON_JSON}")
    before = clean.state()
    results = tmp_path / "results"

    with clean.watch_dockerd() as samples:
        res = run_cell(cell, clean.spec, results, clean.client_env(), "--allow-disruption")

    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    result = json.loads((results / f"{cell}.json").read_text())
    assert result["verdict"]["observed"] == observed
    # the node's own console saw no dockerd, and no active docker.service, for the whole window
    at = {e["name"]: datetime.fromisoformat(e["at"]).timestamp() for e in result["events"]}
    lo, hi = at["daemon stopped"], at["daemon starting"]
    window = [s for s in samples if lo <= s.at <= hi]
    # the whole window seen: no span of it, ends included, without a sample for CONSOLE_GAP_S
    gaps = [b - a for a, b in itertools.pairwise([lo, *(s.at for s in window), hi])]
    assert max(gaps) <= CONSOLE_GAP_S, f"the console left {max(gaps):.2f} s of the window unseen"
    assert [s for s in window if s.pids or s.state == "active"] == []
    assert result["live_restore"]["effective"] is (observed == "survive")
    assert set(result["probes"]) == {"node"}, "only the node path is reachable through SSH"
    checks = {c["id"]: c for c in result["checks"]}
    assert checks["daemon_json_restored_byte_identical"]["passed"]
    assert checks["node_left_clean"]["passed"], checks["node_left_clean"]["detail"]
    # seen from the node's own console, not through the driver under test
    assert clean.read(DAEMON_JSON) == SEEDED
    assert clean.sh(f"stat -c %i {DAEMON_JSON}") == inode, "daemon.json was replaced, not rewritten"
    assert clean.state() | {"dockerd": None} == before | {"dockerd": None}
    assert clean.read(f"{DAEMON_JSON}.lrmatrix-backup") is None
    record = json.loads((results / f"{cell}.changes.json").read_text())
    assert record["service_manager"] == clean.MANAGER
    assert record["backup"] == f"{DAEMON_JSON}.lrmatrix-backup"
    # log pressure over ssh: the rate always; the stdout chain only where the node has python3
    # for the gauge (the sysvinit node shares this machine's /usr; the systemd tree has none)
    pressure = result["log_pressure"]
    assert set(pressure) == {c["name"] for c in result["containers"]["before"]}
    assert all(p["bytes_per_s"] > 0 for p in pressure.values()), pressure
    gauge = clean.sh("command -v python3 || true").strip() != ""
    assert all((p["pipe_capacity"] == 131072) is gauge for p in pressure.values()), pressure
    assert all((p["predicted_horizon_s"] is not None) is gauge for p in pressure.values()), pressure


@integration
def test_recover_undoes_a_run_interrupted_mid_outage(clean):
    """The harness died with the daemon down: `lrmatrix recover --node` reads the node's own
    record and undoes it; without --allow-disruption it refuses and changes nothing."""
    var_lib = clean.sh("ls -a /var/lib")
    first = driver(clean)
    first.sanity_checks()
    first.create()
    assert first.manager is not None and first.manager.name == clean.MANAGER
    assert clean.read(f"{DAEMON_JSON}.lrmatrix-absent") is not None, "no on-node record of the absent file"
    first.write_file(DAEMON_JSON, b'{"live-restore": true}\n')
    first.stop_daemon("SIGTERM")
    first.start_daemon()
    tag = image.image_tag()
    first.import_image(str(image.cached_tarball()), tag, image.CMD)
    label = f"{LABEL}=engine-liverestore"
    first.dockerd.cli_ok("run", "-d", "--name", f"{NAME_PREFIX}1", "--label", label, tag)
    first.stop_daemon("SIGTERM")
    assert tuple(clean.sh(clean.DOCKER_STATE).split()) == clean.DOCKER_STOPPED, (
        "not stopped through the init system"
    )

    def recover(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lrmatrix", "recover", "--node", clean.spec, *extra],
                              cwd=ROOT, env=clean.client_env(), capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    refused = recover()
    assert refused.returncode == 2 and "pass --allow-disruption" in refused.stderr
    alive = recover("--allow-disruption")  # the harness that made the record (this test) lives
    assert alive.returncode == 2 and "still in progress" in alive.stderr, alive.stdout + alive.stderr
    assert clean.read(f"{DAEMON_JSON}.lrmatrix-absent") is not None, "a refusal changed the node"
    # now let the record name a harness that has died, as after a SIGKILL
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = json.loads(first.read_file(first.record_path) or b"{}")
    record["harness"]["pid"] = dead.pid
    first.write_file(first.record_path, json.dumps(record).encode())
    first.close()
    recovered = recover("--allow-disruption")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "undoing the unfinished engine-liverestore run" in recovered.stdout
    later = driver(clean)
    later.destroy()  # after recover: nothing left to do, and harmless

    assert clean.read(DAEMON_JSON) is None
    assert clean.read(f"{DAEMON_JSON}.lrmatrix-absent") is None
    assert clean.sh("docker info --format '{{.LiveRestoreEnabled}}'").strip() == "false"
    assert clean.sh("ls -a /var/lib") == var_lib
    assert clean.sh("docker ps -aq; docker images -q") == ""
    assert later.residue() == []


@integration
@SYSV_ONLY
def test_the_teardown_checks_daemon_json_and_leaves_a_changed_one_to_recover(clean):
    """daemon.json is restored once, by the run itself (run/live_restore); the driver's own
    teardown only checks it. One the run's restore did not put back is not rewritten there:
    the teardown says so, the marker and the record stay, and `recover` puts it back."""
    node = driver(clean)
    node.sanity_checks()
    node.create()
    changed = b'{"live-restore": true}\n'
    clean.write(DAEMON_JSON, changed)  # the cell's change, as if its restore had not happened
    node.destroy()
    said = [p for p in node.problems if "differs from before the run" in p]
    assert said and "lrmatrix recover --node ssh://root@" in said[0], node.problems
    assert clean.read(DAEMON_JSON) == changed, "the teardown rewrote daemon.json"
    assert clean.read(f"{DAEMON_JSON}.lrmatrix-absent") is not None
    record = json.loads(clean.read(node.record_path) or b"{}")
    assert record["cell"] == "engine-liverestore"
    residue = driver(clean).residue()
    assert any("lrmatrix-absent" in r for r in residue), residue

    dead = subprocess.Popen(["true"])  # the harness that wrote the record has died
    dead.wait()
    record["harness"]["pid"] = dead.pid
    clean.write(node.record_path, json.dumps(record).encode())
    argv = [sys.executable, "-m", "lrmatrix", "recover", "--node", clean.spec, "--allow-disruption"]
    res = subprocess.run(argv, cwd=ROOT, env=clean.client_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert clean.read(DAEMON_JSON) is None
    assert clean.read(f"{DAEMON_JSON}.lrmatrix-absent") is None
    assert clean.sh("docker info --format '{{.LiveRestoreEnabled}}'").strip() == "false"
    assert driver(clean).residue() == []


@integration
@SYSV_ONLY
def test_crash_variant_kills_dockerd_and_the_init_script_starts_it_again(clean):
    node = driver(clean)
    try:
        node.sanity_checks()
        killed = node.daemon_pid()
        node.stop_daemon("SIGKILL")
        assert node.daemon_pid() is None
        assert clean.read("/var/run/docker-ssd.pid") is not None, "a crash leaves the init script's pidfile"
        node.start_daemon()
        assert node.daemon_pid() not in (None, killed)
        assert node.dockerd.api_ready()
    finally:
        node.close()


@integration
@SYSV_ONLY
def test_leftover_backup_blocks_the_next_run(clean):
    clean.write(f"{DAEMON_JSON}.lrmatrix-backup", b"{}")
    node = driver(clean)
    try:
        with pytest.raises(EnvironmentProblem, match="did not finish"):
            node.sanity_checks()
    finally:
        node.close()
        clean.remove(f"{DAEMON_JSON}.lrmatrix-backup")


@integration
@SYSV_ONLY
def test_a_daemon_that_comes_back_by_itself_is_seen_and_explained(clean):
    """A respawning init script brings dockerd back within the window: the driver does not take
    it for gone, and says that lrmatrix did not start it (the verdict's error reason)."""
    node = driver(clean)
    try:
        node.sanity_checks()
        with clean.respawning():
            try:  # the driver may already see it back when it checks that the socket is gone
                node.stop_daemon("SIGTERM")
            except NodeError as exc:
                assert "is not down after `service docker stop`" in str(exc)
            assert poll(node.daemon_pid, 30, 0.2), "the respawning loop did not start dockerd"
            why = node.why_up_again()
        assert why is not None and "lrmatrix did not start it" in why, why
    finally:
        node.close()


RESPAWNED_BY = {
    "sysvinit": "lrmatrix did not start it",
    # seen as the units started again, or (first) as docker.socket listening again
    "systemd": "by something other than lrmatrix",
}


@integration
def test_a_cell_whose_daemon_respawns_is_an_error_never_survive(clean, tmp_path):
    """The init system's start in a respawning loop brings dockerd back within the window: the
    cell's verdict is `error`, and its reason says who brought it back, as far as the node tells."""
    results = tmp_path / "results"
    with clean.respawning():
        res = run_cell("engine-liverestore", clean.spec, results, clean.client_env(), "--allow-disruption")
    result = json.loads((results / "engine-liverestore.json").read_text())
    assert res.returncode != 0, res.stdout[-3000:]
    assert result["verdict"]["observed"] == "error", result["verdict"]
    assert RESPAWNED_BY[clean.MANAGER] in result["verdict"]["reason"], result["verdict"]


#: the respawn cell's wait for a restart, for a node whose init never restarts dockerd
SHORT_RESPAWN_WAIT = "timings = { recover_timeout_s = 5.0 }"


def matrix_with(folder: Path, table: str, line: str) -> Path:
    """A copy of the repository's matrix with ``line`` added at the top of ``table``."""
    shutil.copytree(ROOT / "matrix", folder)
    toml = folder / "matrix.toml"
    text = toml.read_text()
    assert f"\n{table}\n" in text, f"the matrix has no {table}"
    toml.write_text(text.replace(f"\n{table}\n", f"\n{table}\n{line}\n", 1))
    return folder


@integration
def test_a_respawn_cell_measures_the_service_managers_own_restart(clean, tmp_path):
    """systemd starts dockerd again after the kill (Restart=on-failure): the cell measures it,
    names who did it, and passes. Debian's sysvinit script restarts nothing: the cell's error
    says so. The node is restored either way."""
    cell = "engine-liverestore-respawn"
    clean.write(DAEMON_JSON, SEEDED)
    results = tmp_path / "results"
    env = clean.client_env()
    if clean.MANAGER == "sysvinit":  # nothing restarts it however long the cell waits: 5 s, not 30
        env["LRMATRIX_MATRIX"] = str(matrix_with(tmp_path / "matrix", f"[cells.{cell}]", SHORT_RESPAWN_WAIT))

    res = run_cell(cell, clean.spec, results, env, "--allow-disruption")

    result = json.loads((results / f"{cell}.json").read_text())
    checks = {c["id"]: c for c in result["checks"]}
    assert checks["node_left_clean"]["passed"], checks["node_left_clean"]["detail"]
    assert clean.read(DAEMON_JSON) == SEEDED
    assert clean.sh("systemctl is-enabled docker.service 2>/dev/null || true").strip() != "masked-runtime"
    if clean.MANAGER == "sysvinit":
        assert res.returncode == 1, res.stdout[-3000:]
        assert result["verdict"]["observed"] == "error"
        assert "was not started again by the node's service manager within 5 s" in result["verdict"]["reason"]
        return
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert result["verdict"]["observed"] == "survive", result["verdict"]
    respawned = next(e for e in result["events"] if e["name"] == "daemon respawned")
    assert "systemd restarted dockerd" in respawned["detail"], respawned
    assert 0 < result["timing"]["respawn_s"] < 10
    assert result["disruption"]["came_back_at"] is None, (
        "a respawn is this cell's end of the outage, not an error"
    )
    assert result["containers"]["pids_kept"] is True
    back = result["timing"]["respawn_s"]
    print(f"\n{cell}: {result['verdict']['reason']}; back {back} s after the kill: {respawned['detail']}")
