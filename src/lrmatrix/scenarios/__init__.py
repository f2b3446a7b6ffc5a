"""The scenario library: moby's own live-restore regressions as cells (docs/scenarios.md).

A scenario (``[scenarios.<name>]`` in matrix.toml) adds named actions to a cell's phases and
names checks that read the daemon's own state; each check's observation is asserted against
the value measured for that engine and variant. Actions live in ``actions/<topic>.py``, checks
in ``checks/<topic>.py``; ``registry`` finds them by name, so adding one edits no list.
"""
