"""A node spec: where a node is and how it may be used (``engine://``, ``ssh://user@host``,
``minikube://profile``), as testinfra names its hosts."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lrmatrix.errors import BadInput


@dataclass(frozen=True)
class NodeSpec:
    """Where the node is and how it may be used; options come from the command line."""

    scheme: str
    user: str | None = None
    host: str | None = None
    port: int | None = None
    #: what follows the scheme, as written (``minikube://Profile``: the profile, case kept)
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
            parts.scheme, parts.username, parts.hostname, port, parts.netloc + parts.path, options or {}
        )
