"""pytest plugin for one test (``-p pretend_loopback``): the ssh driver's name lookup answers
127.0.0.1 for the node, as it would for ``--node ssh://root@127.0.0.1:PORT``, while paramiko
still connects to the node's own address. So a real run shows what a loopback node address
makes of the sanity output, the events and the verdict."""

from __future__ import annotations

import socket
import types

from lrmatrix.drivers.ssh import node as ssh


def _loopback(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]


ssh.socket = types.SimpleNamespace(getaddrinfo=_loopback, IPPROTO_TCP=socket.IPPROTO_TCP)  # type: ignore[assignment]
