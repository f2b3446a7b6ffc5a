"""A real package upgrade on the booted systemd node, through the ssh driver: Debian 12's
docker.io 20.10.24 to Debian 13's 26.1.5 with containerd 1.7.24 and the CLI, which Debian 13
ships as a separate docker-cli package.

The .debs are fetched here with the engines' private apt configuration (the matrix's
``[engines.docker26]`` pins) and staged on the node, which has no route to a mirror; the
user's upgrade command then runs on the node with the workload up. What Debian's maintainer
scripts do is read from the node's journal. This is pre-upgrade validation measured as a
test; it is not a matrix cell (yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshnode import driver
from systemdnode import SystemdNode, why_not_ready

from lrmatrix import engines, image
from lrmatrix.matrix import load_matrix
from lrmatrix.workload import Workload

pytest.importorskip("paramiko")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(why_not_ready()), reason=f"systemd staging node: {why_not_ready()}"),
]

STAGED = "/var/cache/lrmatrix-debs"
# apt orders the three (dpkg -i of them at once refuses docker-cli: it Breaks the old docker.io);
# no recommends: they would need a mirror the node cannot reach
UPGRADE = f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {STAGED}/*.deb"


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    engine = load_matrix().engines["docker26"]
    folder = tmp_path_factory.mktemp("debs")
    apt = engines.PrivateApt(engines.cache_dir() / ".apt" / engine.suite, engine.suite)
    apt.update()
    pins = [f"docker.io={engine.docker}", f"containerd={engine.containerd}", f"docker-cli={engine.docker}"]
    res = apt.run(["apt-get", "download", *pins], cwd=str(folder))
    assert res.returncode == 0, res.stderr[-500:]
    return sorted(folder.glob("*.deb"))


@pytest.fixture
def node() -> Iterator[SystemdNode]:
    """A node of its own: the upgrade is not undone."""
    with SystemdNode.running() as fresh:
        yield fresh


def pids(workload: Workload) -> dict[str, int]:
    return {c.name: c.pid for c in workload.snapshot()}


@pytest.mark.parametrize("live_restore", [True, False], ids=["liverestore", "noliverestore"])
def test_package_upgrade_20_to_26_on_systemd(node, debs, live_restore):
    cell = "engine-liverestore" if live_restore else "engine-noliverestore"
    ssh = driver(node, cell)
    try:
        ssh.sanity_checks()
        ssh.create()
        ssh.write_file(ssh.daemon_json_path, json.dumps({"live-restore": live_restore}).encode())
        ssh.stop_daemon("SIGTERM")
        ssh.start_daemon()
        tag = image.image_tag()
        ssh.import_image(str(image.cached_tarball()), tag, image.CMD)
        workload = Workload(ssh, tag, config_dir=ssh.work_dir)
        workload.deploy()
        before = pids(workload)
        assert ssh.versions()["docker"].startswith("20.10.24")
        ssh.run(["mkdir", "-p", STAGED])
        for deb in debs:
            ssh.upload(deb, f"{STAGED}/{deb.name}")
        cursor = ssh._journal_mark()

        upgraded = ssh.run(["sh", "-c", UPGRADE], timeout=600)

        assert upgraded.ok, upgraded.stdout[-2000:] + upgraded.stderr[-1000:]
        journal = node.sh(f"journalctl _PID=1 -o cat --no-pager --after-cursor '{cursor}'")
        scripts = [ln for ln in journal.splitlines() if "docker." in ln or "containerd.service" in ln]
        # Debian's maintainer scripts restart containerd.service and leave docker.service alone:
        # the old dockerd goes on answering until someone restarts it
        assert any(ln.startswith("Stopped containerd.service") for ln in scripts), scripts
        assert any(ln.startswith("Started containerd.service") for ln in scripts), scripts
        assert not [ln for ln in scripts if "docker.service" in ln or "docker.socket" in ln], scripts
        assert ssh.versions()["docker"].startswith("20.10.24"), "dockerd was restarted by the upgrade"
        assert pids(workload) == before
        client = ssh.docker("version", "--format", "{{.Client.Version}}")
        assert client.ok and client.stdout.startswith("26.1.5"), "the CLI (docker-cli) does not work"

        ssh._journal_cursor = ssh._journal_mark()
        ssh.run(["systemctl", "restart", "docker.service"], timeout=120)
        ssh.wait_api(60)

        assert ssh.versions()["docker"].startswith("26.1.5")
        after = pids(workload)
        assert set(after) == set(before) and all(after.values()), "a container is not running"
        if live_restore:
            assert after == before, "live-restore did not keep the containers across 20.10 -> 26.1"
        else:
            assert not set(after.values()) & set(before.values()), "the containers were not restarted"
        print(f"\nlive-restore={live_restore}: {len(scripts)} unit messages; PIDs {before} -> {after}")
        workload.remove()
        ssh.destroy()
    finally:
        ssh.close()
