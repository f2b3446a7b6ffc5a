"""The minikube node's one transport: the harness's commands and the checks' testinfra host
both travel as ``minikube -p PROFILE ssh -- LINE`` through the cell's runner.

No minikube can run here. Two stand-ins: the recording runner (what a real run executes, as
``lrmatrix plan`` and the dry-run tests see it), and a FAKE ``minikube`` on PATH that does
what ``minikube ssh`` does with the words after ``--`` (it joins them with spaces into one
line for the node's shell: cmd/minikube/cmd/ssh.go -> ``session.Run(strings.Join(args, " "))``),
here on this machine, so a real shell checks the quoting, file bytes and exit statuses. The
fake ``sudo`` beside it runs the command as it is (the tests run as root).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import testinfra.host

from contract.test_minikube_dryrun import node_with
from lrmatrix.drivers.minikube.node import MinikubeNode, MinikubeSettings
from lrmatrix.kube.runner import RealRunner
from lrmatrix.matrix.cells import load_matrix
from prereqs import require

FAKE_MINIKUBE = """#!/bin/sh
# FAKE minikube (tests only): `minikube -p PROFILE ssh -- WORDS...` runs the words joined by
# spaces, as minikube's ssh does, in this machine's shell
if [ "$1" != -p ] || [ "$3" != ssh ] || [ "$4" != -- ]; then
    echo "fake minikube: only -p PROFILE ssh -- LINE" >&2
    exit 64
fi
shift 4
exec /bin/sh -c "$*"
"""
FAKE_SUDO = '#!/bin/sh\n# FAKE sudo (tests only, run as root): the command as it is\nexec "$@"\n'
#: bytes a daemon.json can hold that a shell line could mangle
AWKWARD = b'{"a": "it\'s \\"$HOME\\" `id` %s \\\\ \xc3\xa9"}\n\n'


def test_the_checks_host_is_the_harness_transport_and_both_go_through_the_runner():
    node, runner = node_with({"minikube -p lrm-k8s128 ssh -- sudo /bin/sh -c 'docker info": ("true\n", 0)})
    assert node.testinfra_backend() is node.transport
    host = testinfra.host.Host(node.testinfra_backend())
    node.run(["pidof", "dockerd"])
    assert host.check_output("docker info --format %s", "{{.LiveRestoreEnabled}}") == "true"
    harness, check = runner.calls[-2:]
    assert harness.argv == ("minikube", "-p", "lrm-k8s128", "ssh", "--", "pidof dockerd")
    assert check.argv[:5] == ("minikube", "-p", "lrm-k8s128", "ssh", "--")
    sudo, sh, dash_c, line = shlex.split(check.argv[-1])
    assert (sudo, sh, dash_c) == ("sudo", "/bin/sh", "-c"), "a check did not run as root"
    assert shlex.split(line) == ["docker", "info", "--format", "{{.LiveRestoreEnabled}}"]


def test_a_failing_check_command_fails_the_check():
    node, _ = node_with({"minikube -p lrm-k8s128 ssh -- sudo /bin/sh -c 'docker info": ("no daemon", 1)})
    host = testinfra.host.Host(node.testinfra_backend())
    res = host.run("docker info")
    assert res.rc == 1 and res.stderr == "no daemon"
    with pytest.raises(AssertionError):
        host.check_output("docker info")


@pytest.fixture
def shell_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MinikubeNode:
    """A minikube node whose ``minikube`` is the fake one above, on a real runner."""
    require(None if os.geteuid() == 0 else "needs root: the fake sudo stands in for root's")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("minikube", FAKE_MINIKUBE), ("sudo", FAKE_SUDO)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    cell = load_matrix().cell("k8s128-liverestore")
    return MinikubeNode(cell, runner=RealRunner(), settings=MinikubeSettings())


def test_files_and_commands_arrive_intact_through_the_ssh_line(shell_node: MinikubeNode, tmp_path: Path):
    node = shell_node
    path = str(tmp_path / "it's here" / "daemon.json")
    Path(path).parent.mkdir()
    assert node.read_file(path) is None
    node.write_file(path, AWKWARD)
    assert Path(path).read_bytes() == AWKWARD
    assert node.read_file(path) == AWKWARD
    res = node.run(["sh", "-c", "echo out; echo 'e r r' >&2; exit 5"])
    assert (res.rc, res.stdout, res.stderr) == (5, "out\n", "e r r\n")
    host = testinfra.host.Host(node.testinfra_backend())
    assert host.file(path).content == AWKWARD
    assert host.check_output("printf %s", "it's $HOME") == "it's $HOME"
    assert host.run("exit 3").rc == 3
    lines = [c.argv for c in node.runner.calls if c.kind == "run"]
    assert lines and all(argv[:5] == ("minikube", "-p", "lrm-k8s128", "ssh", "--") for argv in lines)
    assert all(len(argv) == 6 for argv in lines), "a node command was not one ssh line"
