"""Running local commands, and reaping what dockerd leaves behind.

dockerd's children (docker-proxy, containerd-shim) are orphaned when it stops. On machines
whose PID 1 does not reap promptly they linger as zombies, so the harness makes itself a
child subreaper and reaps them once its own work is done.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psutil

from lrmatrix.deadline import poll
from lrmatrix.netns import NetnsError, started_in

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NAME = 15


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    netns: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture text output, never raise on a non-zero exit. ``netns``: started
    in the network namespace at that path (lrmatrix.netns), as ``nsenter --net=PATH argv``
    would, exit 1 with the reason if it cannot be entered (nsenter's)."""
    full_env = {**os.environ, **env} if env else None
    options: dict[str, Any] = {"stdin": subprocess.DEVNULL, "env": full_env, "cwd": cwd}
    try:
        if netns is None:
            return subprocess.run(
                list(argv), capture_output=True, text=True, timeout=timeout, check=False, **options
            )
        return _run_in(netns, list(argv), timeout, options)
    except NetnsError as exc:
        return subprocess.CompletedProcess(list(argv), 1, "", f"lrmatrix: {exc.strerror}")
    except FileNotFoundError:
        return subprocess.CompletedProcess(list(argv), 127, "", f"{argv[0]}: command not found")
    except OSError as exc:  # a truncated binary: Exec format error; a file that is not executable
        return subprocess.CompletedProcess(list(argv), 126, "", f"{argv[0]}: {exc.strerror}")
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(list(argv), 124, "", f"timed out after {exc.timeout}s")


def _run_in(
    netns: str, argv: list[str], timeout: float, options: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """subprocess.run's wait, for a process started in ``netns``: killed on its timeout or on
    an interrupt of the waiting thread."""

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)

    with started_in(netns, start, _kill) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:  # the timeout (raised on to the caller's 124) or an interrupt
            _kill(proc)
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _kill(proc: subprocess.Popen[str]) -> None:
    """Kill and reap, as subprocess.run does: never read the pipes to their end, which a
    grandchild still holding them (``sh -c 'x &'``, a docker CLI plugin) would put off."""
    proc.kill()
    proc.wait()


def missing_commands(packages: Mapping[str, str]) -> list[str]:
    """``{command: package}`` -> the packages whose command is not on PATH (for one-line errors)."""
    return sorted({pkg for cmd, pkg in packages.items() if shutil.which(cmd) is None})


def prctl(option: int, arg: int | bytes) -> bool:
    """prctl(2) on the calling process (Linux); False where it is missing or refused."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only) so they can be reaped; False if unsupported."""
    return prctl(PR_SET_CHILD_SUBREAPER, 1)


#: what dockerd leaves behind as processes of its own (by command name)
DOCKER_DAEMONS = frozenset(
    {"containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy", "dockerd"}
)


def reap_adopted_daemons() -> list[int]:
    """Reap zombie children we adopted as subreaper (dockerd's containerd, docker-proxy, shims).

    Safe while subprocesses are running: it waits only for pids whose command is one we never
    start directly. A zombie containerd must not linger: a new dockerd would find its pid in
    containerd.pid, believe it alive, and time out waiting for its socket.
    """
    return reap_adopted(lambda child: child.name() in DOCKER_DAEMONS)


def reap_adopted(adopted: Callable[[psutil.Process], bool]) -> list[int]:
    """Reap the zombie children that ``adopted`` says we adopted (never one we started: its
    exit status belongs to whoever waits for it)."""
    reaped = []
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE or not adopted(child):
                continue
        except (psutil.Error, OSError):  # gone meanwhile
            continue
        try:
            if os.waitpid(child.pid, os.WNOHANG)[0]:
                reaped.append(child.pid)
        except ChildProcessError:
            pass
    return reaped


def reap_orphans(wait_s: float = 0.0) -> list[int]:
    """Reap exited adopted children; call only when no subprocess of ours is still running."""
    reaped: list[int] = []

    def none_left() -> bool:
        """Reap what has exited; True once we have no child at all (nothing left to wait for)."""
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if not pid:
                return False
            reaped.append(pid)

    poll(none_left, wait_s, 0.05)
    return reaped


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> int | None:
    """Have the kernel send ``sig`` when the parent that started us exits, SIGKILL included, so
    that a cell whose tox or ``lrmatrix run`` died still tears its node down instead of running
    on unattended. Returns that parent's pid (None where prctl is missing): a caller whose
    ``os.getppid()`` differs from it has lost its parent already, before the kernel could tell.

    The kernel ties this to the parent *thread* that forked us; tox and ``lrmatrix run`` wait for
    a command in the thread that started it, so that thread outlives the command.
    """
    parent = os.getppid()
    return parent if prctl(PR_SET_PDEATHSIG, sig) else None
