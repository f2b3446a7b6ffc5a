"""Errors that map to the CLI's exit codes, so every entry point reports them the same way."""

from __future__ import annotations

#: exit code of a run stopped by SIGINT, SIGTERM or SIGHUP (the shell's 128 + SIGINT): not 2,
#: which promises that nothing was changed; the node was torn down and the result says where
INTERRUPTED = 130


class LrmatrixError(Exception):
    """Base class; the message is the one line the user sees."""

    exit_code = 2


class BadInput(LrmatrixError):
    """Unknown cell, malformed file, conflicting options: the user can fix the command."""


class EnvironmentProblem(LrmatrixError):
    """Missing package, not root, no namespaces: the machine cannot run this, nothing changed."""


class NodeError(LrmatrixError):
    """The node misbehaved mid-scenario (daemon failed to start, ...); teardown still ran."""


class KeepNode(NodeError):
    """A teardown step found the node must be left as it is (a package manager still runs on
    it): restoring and destroying it are skipped, and the run says how to finish later."""
