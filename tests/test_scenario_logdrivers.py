"""The logs-while-down check on a real node: "readable" for tickers that kept running through a
live-restore restart, and "container exited" (failing a cell that must read them) once a daemon
without live-restore stopped them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.deadline import poll
from lrmatrix.evidence.records import Deployed
from lrmatrix.modules import daemon_json
from lrmatrix.scenarios.actions.logdrivers import MarkNodeTime, StartLogWriters
from lrmatrix.scenarios.observation import mismatch, observe
from lrmatrix.scenarios.ticker import NodeTime, uptime
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]

OUTAGE_S = 2.0


def live_restore(node, on: bool) -> None:
    """Switch live-restore in the node's daemon.json and restart dockerd with it."""
    node.write_file(
        node.daemon_json_path, daemon_json.merge_live_restore(node.read_file(node.daemon_json_path), on)
    )
    node.stop_daemon("SIGTERM")
    node.start_daemon()


def restart_with_writers(node, tag: str):
    """Tickers with the local and json-file drivers, dockerd stopped for 2 s and started."""
    ctx = context(node, Deployed(SimpleNamespace(image=tag), 0.0))
    ctx.evidence.extend(StartLogWriters(drivers=["local", "json-file"]).run(ctx))
    node.stop_daemon("SIGTERM")
    ctx.evidence.extend(MarkNodeTime(label="down").run(ctx))
    down = ctx.evidence.require(NodeTime, label="down").uptime
    # an outage of 2 s on the node's clock: lines written while nothing reads them
    assert poll(lambda: uptime(ctx) > down + OUTAGE_S, OUTAGE_S + 5, 0.1)
    node.start_daemon()
    ctx.evidence.extend(MarkNodeTime(label="up").run(ctx))
    return ctx


def test_logs_while_down_readable_with_live_restore_and_exited_without(scenario_node):  # noqa: F811
    node, tag = scenario_node
    live_restore(node, True)
    try:
        kept = observe("logs-while-down", restart_with_writers(node, tag))
        assert kept.observed == "readable", kept.detail
    finally:
        live_restore(node, False)
    lost = observe("logs-while-down", restart_with_writers(node, tag))
    assert lost.observed == "container exited", lost.detail
    assert mismatch(lost, "readable", "engine/liverestore", "log-drivers").startswith(
        "logs-while-down: expected 'readable', observed 'container exited'"
    )
