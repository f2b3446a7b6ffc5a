"""``lrmatrix plan CELL --commands`` for the engine and ssh drivers: the lines shown are built
by the builders the drivers run, and a changed builder changes the run and the plan alike."""

from __future__ import annotations

import argparse
import shlex
import subprocess

import pytest

from lrmatrix.cli import plan as cli_plan
from lrmatrix.drivers import NodeSpec
from lrmatrix.drivers.engine import net as engine_net
from lrmatrix.drivers.engine.node import EngineNode, NetnsTransport, in_netns
from lrmatrix.drivers.ssh.node import SshNode
from lrmatrix.drivers.ssh.service_manager import SYSTEMD
from lrmatrix.drivers.ssh.transport import SshTransport
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.run import plan

NODE = "ssh://root@198.18.200.2"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli_plan.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def commands(name: str, node: object) -> list[str]:
    cell = load_matrix().cell(name)
    return [c.text for s in plan.plan_cell(cell, node) for c in s.commands]  # type: ignore[arg-type]


def test_an_engine_cell_shows_its_namespace_its_dockerd_and_its_signals():
    cell = load_matrix().cell("engine-liverestore-crash")
    node = EngineNode(cell)
    lines = commands(cell.name, node)
    view = node.plan_view()
    assert view is not node and node.slot is None, "the plan claims no slot"
    assert "ip netns add lrm1" in lines
    dockerd = shlex.join(in_netns("/run/netns/lrm1", view.dockerd_argv()))
    assert dockerd in lines, "the machine's dockerd, with the node's own flags"
    assert any(line.startswith("SIGKILL to dockerd") for line in lines)
    assert any(line.startswith("SIGHUP to dockerd") for line in lines)
    assert lines[-2:] == ["ip link del lrm1h", "ip netns del lrm1"]


def test_the_plan_of_an_engine_node_is_never_destroyed():
    view = EngineNode(load_matrix().cell("engine-liverestore")).plan_view()
    view.destroy()  # a no-op: slot 1 may well be another run's
    assert view.slot is not None and view.slot.index == 1


def test_the_wiring_the_plan_shows_is_what_wire_runs(monkeypatch):
    ran: list[list[str]] = []
    monkeypatch.setattr(engine_net, "_ip", lambda *args: ran.append(["ip", *args]))
    slot = engine_net.Slot(1)
    engine_net.wire(slot)
    lines = commands("engine-liverestore", EngineNode(load_matrix().cell("engine-liverestore")))
    assert ran and all(shlex.join(argv) in lines for argv in ran)
    # a builder changed: the run and the plan change together
    monkeypatch.setattr(engine_net, "wire_args", lambda s: [["link", "set", "lo", "mtu", "1400"]])
    ran.clear()
    engine_net.wire(slot)
    lines = commands("engine-liverestore", EngineNode(load_matrix().cell("engine-liverestore")))
    assert ran == [["ip", "link", "set", "lo", "mtu", "1400"]] and "ip link set lo mtu 1400" in lines
    assert not any(line.startswith("ip link add") for line in lines)


def test_an_engine_command_line_does_what_the_transport_does():
    """The line a plan shows, run by a shell, gives what ``exec`` gives: same namespace, same
    DOCKER_HOST (this process's own namespace stands in for the node's)."""
    transport = NetnsTransport("/proc/self/ns/net", "unix:///nowhere/docker.sock")
    argv = ["sh", "-c", 'echo "$DOCKER_HOST" "$(readlink /proc/self/ns/net)"']
    line = transport.line(argv)
    shell = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=30)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == transport.exec(argv).stdout
    assert shell.stdout.startswith("unix:///nowhere/docker.sock net:[")


class Recorded:
    """What the ssh transport would send, in place of the connection."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        monkeypatch.setattr(SshTransport, "exec_raw", self.exec_raw)

    def exec_raw(self, command: str, timeout: float, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        self.sent.append(command)
        return 0, b"{}", b""


def test_an_ssh_nodes_lines_are_what_its_transport_sends(monkeypatch):
    cell = load_matrix().cell("engine-liverestore-pkgupgrade26")
    node = SshNode(cell, NodeSpec.parse(NODE))
    node.manager = SYSTEMD
    wire = Recorded(monkeypatch)
    node.reload_daemon()
    node.read_file(node.daemon_json_path)
    node.write_file(node.daemon_json_path, b"{}")
    prefix = "[root@198.18.200.2:22] "
    shown = [p.text for p in (*node.plan_reload(), *node.plan_read(node.daemon_json_path))]
    assert [prefix + s for s in wire.sent[:2]] == shown
    assert node.plan_write(node.daemon_json_path, "x")[0].text.startswith(prefix + wire.sent[2])
    assert shown[0] == prefix + "systemctl reload docker.service </dev/null"


def test_an_ssh_cell_shows_the_service_managers_lines():
    cell = load_matrix().cell("engine-liverestore-respawn")
    lines = commands(cell.name, SshNode(cell, NodeSpec.parse(NODE)))
    prefix = "[root@198.18.200.2:22] "
    assert prefix + "systemctl stop docker.socket docker.service </dev/null" in lines
    assert prefix + "kill -s KILL '<dockerd pid>'" in lines
    assert not any("mask" in line for line in lines), "a respawn cell lets systemd restart dockerd"
    crash = load_matrix().cell("engine-liverestore-crash")
    held = commands(crash.name, SshNode(crash, NodeSpec.parse(NODE)))
    assert prefix + "systemctl mask --runtime docker.service </dev/null" in held
    assert prefix + "systemctl unmask --runtime docker.service </dev/null" in held


def test_a_cell_that_needs_your_node_is_planned_on_a_placeholder(capsys):
    assert main(["plan", "engine-liverestore-respawn", "--commands"]) == 0
    out = capsys.readouterr().out
    assert "[user@your-node:22] systemctl reload docker.service </dev/null" in out
    assert main(["plan", "engine-liverestore-respawn", "--commands", "--node", NODE]) == 0
    assert "[root@198.18.200.2:22] systemctl" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["ssh://root@host:0", "nowhere://x"])
def test_a_bad_node_is_one_line_and_exit_2(spec, capsys):
    assert main(["plan", "engine-liverestore", "--commands", "--node", spec]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("lrmatrix: ")


def test_without_commands_the_plan_is_as_before(capsys):
    assert main(["plan", "engine-liverestore"]) == 0
    out = capsys.readouterr().out
    assert "# commands:" not in out and "nsenter" not in out
    assert main(["plan", "engine-liverestore", "--commands", "--format", "json"]) == 0
    import json

    steps = json.loads(capsys.readouterr().out)["steps"]
    node = next(s for s in steps if s["action"] == "node")
    assert {"kind": "run", "text": "ip netns add lrm1"} in node["commands"]


def test_the_containers_the_plan_shows_are_what_deploy_runs(monkeypatch):
    """``Workload.deploy`` on a node that records instead of running: every ``docker`` line and
    the mkdir it runs are in the plan, as the node's transport would send them; a changed
    ``docker run`` changes both."""
    from lrmatrix.workload import image
    from lrmatrix.workload.containers import Workload

    cell = load_matrix().cell("engine-liverestore")
    view = EngineNode(cell).plan_view()
    ran: list[list[str]] = []
    monkeypatch.setattr(view, "run", lambda argv, *a, **k: ran.append(list(argv)))
    monkeypatch.setattr(view, "write_file", lambda path, data: None)
    monkeypatch.setattr(view.dockerd, "check_output", lambda argv, *a, **k: ran.append(list(argv)) or "")
    workload = Workload(view, image.image_tag(), config_dir=view.work_dir, access_log=cell.access_log)
    workload.deploy()
    lines = commands(cell.name, EngineNode(cell))
    assert len(ran) == 3 and all(view.transport.line(argv) in lines for argv in ran), ran
    short = lambda self, name, port: ["run", "-d", "--name", name, self.image]  # noqa: E731
    monkeypatch.setattr(Workload, "run_args", short)
    lines = commands(cell.name, EngineNode(cell))
    assert not any("--restart unless-stopped" in line for line in lines)
    assert any(line.endswith(f"docker run -d --name lrm-web-1 {image.image_tag()}") for line in lines)
