"""TOML and YAML text parsed once per distinct text.

A plan or a dry run reads the same matrix.toml and manifests about 20 times each (0.7 s of a
Kubernetes cell's plan went to parsing them again). The file is still read every time, so an
edited file is parsed anew; each caller gets its own copy to change. Errors are not kept:
a bad text raises its parser's error every time.
"""

from __future__ import annotations

import copy
import tomllib
from functools import lru_cache
from typing import Any

#: distinct texts kept (a matrix, a pyproject, the manifests of a few folders)
KEPT = 64


@lru_cache(maxsize=KEPT)
def _toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


@lru_cache(maxsize=KEPT)
def _yaml_documents(text: str) -> tuple[Any, ...]:
    import yaml  # the kubernetes extra: callers check it is there first

    return tuple(yaml.safe_load_all(text))


def toml(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``."""
    return copy.deepcopy(_toml(text))


def yaml_documents(text: str) -> list[Any]:
    """``list(yaml.safe_load_all(text))``, empty documents included (as None)."""
    return copy.deepcopy(list(_yaml_documents(text)))
