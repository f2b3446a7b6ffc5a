"""Drivers by node-spec scheme (``engine://``, ``ssh://user@host``, ``minikube://profile``),
imported lazily so a missing optional dependency (paramiko, kubernetes) only matters to
the driver that needs it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lrmatrix.errors import BadInput

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.cells import Cell

DRIVERS: dict[str, str] = {
    "engine": "lrmatrix.drivers.engine.node:EngineNode",
    "minikube": "lrmatrix.drivers.minikube.node:MinikubeNode",
    "ssh": "lrmatrix.drivers.ssh.node:SshNode",
}


@dataclass(frozen=True)
class NodeSpec:
    """Where the node is and how it may be used; options come from the command line."""

    scheme: str
    user: str | None = None
    host: str | None = None
    port: int | None = None
    path: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, options: dict[str, str] | None = None) -> NodeSpec:
        parts = urlsplit(text if "://" in text else f"{text}://")
        if not parts.scheme:
            raise BadInput(f"node spec {text!r} has no scheme; use e.g. engine:// or ssh://user@host")
        try:
            port = parts.port
        except ValueError:
            raise BadInput(f"node spec {text!r} has an invalid port") from None
        if port == 0:  # urlsplit reads ":0" as 0, which a client would silently turn into 22
            raise BadInput(
                f"node spec {text!r} has port 0; give the node's SSH port (1-65535) or leave it out for 22"
            )
        return cls(
            parts.scheme,
            parts.username,
            parts.hostname,
            port,
            (parts.netloc if parts.scheme == "minikube" else "") + parts.path,
            options or {},
        )


def driver_class(name: str) -> type[Node]:
    try:
        target = DRIVERS[name]
    except KeyError:
        raise BadInput(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def make_node(cell: Cell, spec: NodeSpec | None, options: dict[str, str] | None = None) -> Node:
    """The cell's own driver, unless ``--node`` names another one (ssh for staging nodes); the
    command line's options reach the driver either way."""
    if cell.needs_node and (spec is None or spec.scheme != "ssh" or not spec.host):
        what = (
            "its upgrade command with the node's own package manager"
            if cell.upgrade_command
            else ("a crash that the node's own service manager answers (systemd's Restart=)")
        )
        node = "--node ssh://user@host --allow-disruption"
        raise BadInput(f"cell {cell.name} runs {what}: name a node of yours with {node}")
    if spec is None:
        spec = NodeSpec(cell.driver, options=dict(options or {}))
    return driver_class(spec.scheme)(cell, spec)
