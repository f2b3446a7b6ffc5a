"""The client-streams checks on a real node, each made to fail by a wrong state: clients still
running (a hang), ``exec -u`` that can no longer find the user (moby#29342's symptom), a
``docker stop`` that does not return in its bound, a root filesystem still mounted."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.evidence.records import Deployed
from lrmatrix.scenarios.actions.streams import CONTAINER, StartStreamClients, StopStreamContainer
from lrmatrix.scenarios.checks import streams as stream_checks
from lrmatrix.scenarios.observation import mismatch, observe
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]

WHERE = ("engine/liverestore", "client-streams")
#: what 20.10, 26.1 and 28.5 show without live-restore: the daemon stops the container first
NO_LIVE_RESTORE = "wait: exit 0, logs: ended, attach: ended, events: eof"


def started(node, tag: str):
    """A context whose clients follow a fresh ticker (the image as the workload's)."""
    node.dockerd.cli("rm", "-f", CONTAINER)
    ctx = context(node, Deployed(SimpleNamespace(image=tag), 0.0))
    ctx.evidence.extend(StartStreamClients().run(ctx))
    return ctx


def test_stream_clients_hang_while_the_daemon_runs_and_end_once_it_stops(scenario_node, monkeypatch):  # noqa: F811
    node, tag = scenario_node
    ctx = started(node, tag)
    try:
        monkeypatch.setattr(stream_checks, "END_BOUND_S", 1.0)
        hung = observe("stream-clients-end", ctx)
        assert hung.observed == "hung", hung.detail
        assert mismatch(hung, "eof", *WHERE).startswith("stream-clients-end: expected 'eof', observed 'hung'")

        node.stop_daemon("SIGTERM")  # live-restore is off on this node: the ticker stops too
        node.start_daemon()
        ended = observe("stream-clients-end", ctx)
        assert ended.observed == NO_LIVE_RESTORE, ended.detail
    finally:
        ctx.running.stop_all()


def test_exec_user_differs_once_the_user_cannot_be_found(scenario_node):  # noqa: F811
    node, tag = scenario_node
    ctx = started(node, tag)
    try:
        assert observe("exec-user", ctx).observed == "same"
        # what #29342 showed after a restart: the passwd file no longer names the user
        node.dockerd.cli_ok(
            "exec", CONTAINER, "sh", "-c", "grep -v ^nobody: /etc/passwd >/tmp/p; cat /tmp/p >/etc/passwd"
        )
        differs = observe("exec-user", ctx)
        assert differs.observed == "differs", differs.detail
        assert "unable to find user" in differs.detail
        node.dockerd.cli_ok("stop", "-t", "1", CONTAINER)
        assert observe("exec-user", ctx).observed == "not running"
    finally:
        ctx.running.stop_all()


def test_stop_returns_and_rootfs_unmounted_fail_on_a_stop_that_hangs_and_a_mounted_rootfs(scenario_node):  # noqa: F811
    node, tag = scenario_node
    ctx = started(node, tag)
    ctx.running.stop_all()
    still = observe("rootfs-unmounted", ctx)
    assert still.observed == "still mounted", still.detail
    ctx.evidence.extend(StopStreamContainer(grace_s=5, bound_s=30).run(ctx))
    assert observe("stop-returns", ctx).observed == "stopped"
    assert observe("rootfs-unmounted", ctx).observed == "unmounted"

    # a daemon that does not answer (frozen, as #31997's stuck FIFO left it): the stop hangs
    node.dockerd.cli("rm", "-f", CONTAINER)
    node.dockerd.cli_ok("run", "-d", "--name", CONTAINER, tag, "sleep", "600")
    pid = node.daemon_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        ctx.evidence.extend(StopStreamContainer(grace_s=1, bound_s=3).run(ctx))
    finally:
        os.kill(pid, signal.SIGCONT)
    hung = observe("stop-returns", ctx)
    assert hung.observed == "hung", hung.detail
    assert mismatch(hung, "stopped", *WHERE).startswith("stop-returns: expected 'stopped', observed 'hung'")
    node.dockerd.cli("rm", "-f", CONTAINER)
