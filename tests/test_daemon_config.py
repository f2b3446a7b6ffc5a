from __future__ import annotations

import json

import pytest

from lrmatrix.errors import BadInput
from lrmatrix.modules import daemon_json as daemon_config

MINIKUBE_LIKE = (
    b'{\n"exec-opts": ["native.cgroupdriver=systemd"],\n"log-driver": "json-file",\n'
    b'"storage-driver": "overlay2"\n}\n'
)


def test_merge_changes_only_live_restore_and_keeps_key_order():
    merged = json.loads(daemon_config.merge_live_restore(MINIKUBE_LIKE, True))
    assert list(merged) == ["exec-opts", "log-driver", "storage-driver", "live-restore"]
    assert merged["live-restore"] is True
    assert daemon_config.preserved_keys(json.loads(MINIKUBE_LIKE), merged) == []


@pytest.mark.parametrize("enabled", [True, False])
def test_merge_overwrites_existing_value(enabled):
    raw = json.dumps({"live-restore": not enabled, "debug": True}).encode()
    merged = json.loads(daemon_config.merge_live_restore(raw, enabled))
    assert merged == {"live-restore": enabled, "debug": True}


@pytest.mark.parametrize("raw", [None, b"", b"  \n"])
def test_missing_or_empty_file_is_empty_config(raw):
    assert json.loads(daemon_config.merge_live_restore(raw, False)) == {"live-restore": False}


@pytest.mark.parametrize(("raw", "message"), [(b"{nope", "not valid JSON"), (b"[1]", "JSON object")])
def test_invalid_file_is_refused_before_any_change(raw, message):
    with pytest.raises(BadInput, match=message):
        daemon_config.merge_live_restore(raw, True)


def test_preserved_keys_reports_changed_removed_and_added():
    original = {"a": 1, "b": 2, "live-restore": False}
    assert daemon_config.preserved_keys(original, {"a": 1, "b": 2, "live-restore": True}) == []
    assert daemon_config.preserved_keys(original, {"a": 9, "c": 3}) == ["a", "b", "c"]


@pytest.mark.parametrize("flag", ["--live-restore", "--live-restore=true"])
def test_conflicting_dockerd_flag_is_refused(flag):
    with pytest.raises(BadInput, match="remove the flag"):
        daemon_config.check_flags(["dockerd", "-H", "fd://", flag])


def test_no_conflict_without_the_flag():
    daemon_config.check_flags(["dockerd", "--config-file", "/etc/docker/daemon.json"])
