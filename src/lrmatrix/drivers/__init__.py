"""Drivers by node-spec scheme, imported lazily so a missing optional dependency
(paramiko, kubernetes) only matters to the driver that needs it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lrmatrix.errors import BadInput

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node

DRIVERS: dict[str, str] = {
    "engine": "lrmatrix.drivers.engine:EngineNode",
}


def driver_class(name: str) -> type[Node]:
    try:
        target = DRIVERS[name]
    except KeyError:
        raise BadInput(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
