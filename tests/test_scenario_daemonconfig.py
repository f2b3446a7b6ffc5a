"""The daemon-json-changed checks on a real node: a bip change kept out while a container runs
through a live-restore restart and applied once none does, the log driver of the daemon and of
a container made before the change, and the pool a new network comes from (the old one when the
daemon did not start with the change)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import engine_ready
from lrmatrix.evidence.records import Deployed
from lrmatrix.modules import daemon_json
from lrmatrix.scenarios.actions.daemonconfig import ChangeDaemonJson, MakeNetwork, pool_for
from lrmatrix.scenarios.observation import mismatch, observe
from lrmatrix.workload.containers import inspect_containers
from prereqs import needs
from scenario_node import context, scenario_node  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, needs(engine_ready())]

WHERE = ("engine/liverestore", "daemon-json-changed")
#: a pool of the project's range that is not the one change-daemon-json gives this node
OTHER_POOL = "198.19.250.0/24"


def rewrite(node, **keys) -> bytes:
    """daemon.json with ``keys`` set (``None`` removes one), dockerd restarted on it; the old bytes."""
    raw = node.read_file(node.daemon_json_path)
    config = daemon_json.parse(raw)
    for key, value in keys.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    node.stop_daemon("SIGTERM")
    node.write_file(node.daemon_json_path, daemon_json.render(config))
    node.start_daemon()
    return raw


def test_bridge_address_kept_with_a_container_running_and_applied_without(scenario_node):  # noqa: F811
    node, tag = scenario_node
    original = rewrite(node, **{"live-restore": True})
    try:
        node.dockerd.cli_ok("run", "-d", "--name", "lrm-bip", tag, "sleep", "600")
        ctx = context(node)
        node.stop_daemon("SIGTERM")
        ctx.evidence.extend(ChangeDaemonJson(bip=True).run(ctx))
        node.start_daemon()
        kept = observe("bridge-address", ctx)
        assert kept.observed == "old bip kept", kept.detail
        assert mismatch(kept, "new bip", *WHERE).startswith(
            "bridge-address: expected 'new bip', observed 'old"
        )

        node.dockerd.cli_ok("rm", "-f", "lrm-bip")  # nothing runs: the next start applies it
        node.stop_daemon("SIGTERM")
        node.start_daemon()
        assert observe("bridge-address", ctx).observed == "new bip"
    finally:
        node.dockerd.cli("rm", "-f", "lrm-bip")
        node.stop_daemon("SIGTERM")
        node.write_file(node.daemon_json_path, original)
        node.start_daemon()


def test_log_driver_split_and_address_pool(scenario_node):  # noqa: F811
    node, tag = scenario_node
    original = rewrite(node, **{"default-address-pools": [{"base": OTHER_POOL, "size": 28}]})
    try:
        # its sleep ignores SIGTERM: the stop below (no live-restore) waits 1 s for it, not 10
        node.dockerd.cli_ok("run", "-d", "--name", "lrm-old-log", "--stop-timeout", "1", tag, "sleep", "600")
        workload = SimpleNamespace(snapshot=lambda: inspect_containers(node, ["lrm-old-log"], [0]))
        ctx = context(node, Deployed(workload, 0.0))
        node.stop_daemon("SIGTERM")
        ctx.evidence.extend(ChangeDaemonJson(log_driver="local", address_pools=True).run(ctx))
        changed = node.read_file(node.daemon_json_path)
        # a daemon that did not start with the change: the old default driver and pool
        node.write_file(node.daemon_json_path, original_with_pool(original))
        node.start_daemon()
        ctx.evidence.extend(MakeNetwork().run(ctx))
        assert observe("log-driver-split", ctx).observed == "daemon json-file, workload json-file"
        old = observe("address-pool", ctx)
        assert old.observed == "old pool", old.detail
        assert mismatch(old, "new pool", *WHERE).startswith(
            "address-pool: expected 'new pool', observed 'old pool'"
        )

        node.stop_daemon("SIGTERM")
        node.write_file(node.daemon_json_path, changed)
        node.start_daemon()
        ctx.evidence.extend(MakeNetwork().run(ctx))
        assert observe("log-driver-split", ctx).observed == "daemon local, workload json-file"
        new = observe("address-pool", ctx)
        assert new.observed == "new pool", new.detail
        assert pool_for(node.address) in new.detail
    finally:
        node.dockerd.cli("rm", "-f", "lrm-old-log")
        node.stop_daemon("SIGTERM")
        node.write_file(node.daemon_json_path, original)
        node.start_daemon()


def original_with_pool(raw: bytes | None) -> bytes:
    config = daemon_json.parse(raw)
    config["default-address-pools"] = [{"base": OTHER_POOL, "size": 28}]
    return daemon_json.render(config)
