"""Network namespaces by path (``/run/netns/NAME``): a thread that enters one, and the
processes it starts, are in it, as under ``nsenter --net=PATH`` but without running nsenter.

An engine cell runs about a hundred commands on its node (the docker CLI, the NAT watch's
``iptables -S``, ``ip``, ``ss``), and each ``nsenter`` in front of one cost ~2 ms of CPU
(docs/performance-probe.md). The kernel keeps a namespace per thread (``setns`` moves the
calling thread only) and a new process takes its parent thread's, so a thread that entered
the node's namespace starts the command, and ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000

T = TypeVar("T")


class NetnsError(OSError):
    """The namespace could not be entered (its path is gone: the node was torn down)."""


def enter(path: str) -> None:
    """Move the calling thread (only it) into the network namespace at ``path``."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise NetnsError(exc.errno, f"cannot open {path}: {exc.strerror}") from exc
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def started_in(path: str, start: Callable[[], T], stop: Callable[[T], None]) -> T:
    """``start()`` (which starts a process) called from a new thread that entered ``path``.
    The thread ends at once, so it holds no reference to the namespace (one a thread stays in
    outlives its ``ip netns del``, with the node's veth in it). An interrupt while waiting for
    the thread waits for it still and ``stop``s what it started, so nothing runs unwaited.

    A process started so has a parent thread that is gone: a command that asks the kernel for
    a signal when its parent exits (``PR_SET_PDEATHSIG``: ``unshare --kill-child``,
    ``setpriv --pdeathsig``) would get it at once. None of the node's commands does."""
    found: list[T] = []
    failed: list[BaseException] = []

    def enter_and_start() -> None:
        try:
            enter(path)
            found.append(start())
        except BaseException as exc:  # handed to the caller, raised there
            failed.append(exc)

    thread = threading.Thread(target=enter_and_start, name="netns-start", daemon=True)
    thread.start()
    try:
        thread.join()
    except BaseException:
        while thread.is_alive():  # a second interrupt too: what it starts is still stopped
            with contextlib.suppress(KeyboardInterrupt):
                thread.join()
        for started in found:
            stop(started)
        raise
    if failed:
        raise failed[0]
    return found[0]
