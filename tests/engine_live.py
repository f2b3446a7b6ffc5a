"""An engine node with live-restore on and the cached nginx image loaded: where the benchmarks
and the survival-horizon tests start, without a whole cell's scenario around them. Test code,
so it lives under tests/ (bench scripts put tests/ on sys.path)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lrmatrix.drivers.base import Node
from lrmatrix.drivers.engine.node import EngineNode
from lrmatrix.matrix.cells import load_matrix
from lrmatrix.modules import daemon_json as daemon_config
from lrmatrix.process import become_subreaper
from lrmatrix.workload import image


def turn_on_live_restore(node: Node) -> None:
    """live-restore merged into the node's daemon.json and applied by a restart (no container
    runs yet, so nothing is lost), then the cached nginx image imported."""
    raw = node.read_file(node.daemon_json_path)
    node.write_file(node.daemon_json_path, daemon_config.merge_live_restore(raw, True))
    node.stop_daemon("SIGTERM")
    node.start_daemon()
    node.import_image(str(image.cached_tarball()), image.image_tag(), image.CMD)


@contextlib.contextmanager
def live_restore_node(cell: str = "engine-liverestore") -> Iterator[EngineNode]:
    """A node of ``cell`` (its engine) made in this process, live-restore on and the image
    loaded; removed and its slot released whatever the caller does."""
    become_subreaper()
    node = EngineNode(load_matrix().cell(cell))
    node.sanity_checks()
    try:
        node.create()
        turn_on_live_restore(node)
        yield node
    finally:
        node.destroy()
        node.release()
