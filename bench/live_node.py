"""An engine node with live-restore on and the cached nginx image loaded, for the benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lrmatrix import daemon_config, image
from lrmatrix.drivers.engine import EngineNode
from lrmatrix.matrix import load_matrix
from lrmatrix.process import become_subreaper


@contextlib.contextmanager
def live_restore_node(cell: str = "engine-liverestore") -> Iterator[EngineNode]:
    """Made here and removed whatever the benchmark does (its slot released too)."""
    become_subreaper()
    node = EngineNode(load_matrix().cell(cell))
    node.sanity_checks()
    try:
        node.create()
        raw = node.read_file(node.daemon_json_path)
        node.write_file(node.daemon_json_path, daemon_config.merge_live_restore(raw, True))
        node.stop_daemon("SIGTERM")
        node.start_daemon()
        node.import_image(str(image.cached_tarball()), image.image_tag(), image.CMD)
        yield node
    finally:
        node.destroy()
        node.release()
