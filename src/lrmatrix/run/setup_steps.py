"""The named steps of an engine cell's setup, where the harness makes something on this machine.

Every resource is recorded before it is made, so an interrupt at any instant is undone by the
run's own teardown (or else by `lrmatrix recover`). That promise is tested at every one of
these steps, not at one lucky moment: with ``LRMATRIX_INTERRUPT_AT=<step>`` the run sends
itself SIGTERM when it reaches that step, exactly as a CI runner or ``kill`` would, and
``tests/test_setup_interrupts.py`` checks that nothing is left. Unset (always, outside that
test), reaching a step costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "LRMATRIX_INTERRUPT_AT"

#: in the order a run on a cold cache reaches them; each is reached just after what it names
STEPS = (
    "slot-recorded",  # slot locked and its record written; no namespace yet
    "netns-added",  # `ip netns add` ran
    "state-folder-made",  # the node's folder and its node.json
    "veth-added",  # the veth pair exists, not yet moved or addressed
    "wired",  # addresses and links up
    "daemon-json-written",
    "dockerd-started",  # dockerd (and soon its containerd) runs; its API does not answer yet
    "dockerd-ready",  # its API answers
    "live-restore-set",  # daemon.json merged and the daemon reloaded or restarted
    "image-build-folder-made",  # a cold cache: the scratch folder of the image build
    "image-tarball-written",  # the build's tarball written, not yet published in the cache
    "image-importing",  # `docker import` started
    "image-imported",
    "containers-started",  # the workload's containers run
    "workload-ready",  # every endpoint answered on every access path
    "probe-started",
)


_sent: list[str] = []
#: the real stderr, kept before pytest captures it: the test reads that the step was reached
_stderr = os.dup(2) if os.environ.get(ENV) else None


def reached(step: str) -> None:
    """Mark ``step`` as reached; interrupt this process here, once, if the test asked for it."""
    wanted = os.environ.get(ENV)
    if wanted is None or _sent:
        return
    if step not in STEPS:  # a step the harness names but the list (and so the test) misses
        raise ValueError(f"setup step {step!r} is not in lrmatrix.run.setup_steps.STEPS")
    if wanted == step:
        _sent.append(step)
        os.write(_stderr or 2, f"lrmatrix: {ENV}={step}: sending SIGTERM to myself\n".encode())
        os.kill(os.getpid(), signal.SIGTERM)
