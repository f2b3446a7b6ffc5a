"""How an existing node's init system runs dockerd: the command lines that stop, start, hold
and reload it under systemd or Debian's sysvinit script, and the journal words that say it
went. The ssh driver picks one by what the node runs (``DETECT``)."""

from __future__ import annotations

from dataclasses import dataclass

from lrmatrix.modules.dockerd import DOCKER_SERVICE, DOCKER_SOCKET, DOCKER_UNITS

#: journal messages of docker.service that mean dockerd is gone
GONE_WORDS = ("Main process exited", "Deactivated successfully", f"Stopped {DOCKER_SERVICE}")
UNITS = " ".join(DOCKER_UNITS)


@dataclass(frozen=True)
class ServiceManager:
    """How the node's init system stops and starts dockerd (shell command lines), and where it
    keeps the daemon's log."""

    name: str
    stop: str
    start: str
    log: str
    #: before a crash signal: keep the init system from starting dockerd again within the window
    hold: str = ""
    #: after the crash signal: stop what else would start dockerd (socket activation)
    after_kill: str = ""
    #: undo ``hold`` (before the start, and in ``destroy`` after a killed run)
    release: str = ""
    #: how the manager reloads dockerd's configuration; empty: send SIGHUP to its pid ourselves
    reload: str = ""


# The unit's start rate limit (StartLimitBurst=3 in 60 s) counts every start, and a cell starts
# dockerd up to three times within a minute: reset-failed clears the counter first.
SYSTEMD = ServiceManager(
    "systemd",
    # the socket too: `systemctl stop docker` leaves docker.socket listening, and its first client
    # (a check's own `docker ps`) starts dockerd again
    stop=f"systemctl stop {UNITS}",
    start=f"systemctl reset-failed {UNITS}; systemctl start {UNITS}",
    log=f"journalctl -u {DOCKER_SERVICE} -n 50 --no-pager",
    # docker.service has Restart=on-failure: after SIGKILL systemd starts dockerd again within a
    # second. The crash variant holds the unit down for the window: a masked unit is not restarted.
    hold=f"systemctl mask --runtime {DOCKER_SERVICE}",
    after_kill=f"systemctl stop {DOCKER_SOCKET}",
    release=f"systemctl unmask --runtime {DOCKER_SERVICE}",
    reload=f"systemctl reload {DOCKER_SERVICE}",
)
# Debian's /etc/init.d/docker has no reload (its force-reload restarts): SIGHUP instead
SYSVINIT = ServiceManager(
    "sysvinit", stop="service docker stop", start="service docker start", log="tail -n 50 /var/log/docker.log"
)
DETECT = (
    "if test -d /run/systemd/system; then echo systemd; "
    "elif test -x /etc/init.d/docker; then echo sysvinit; else echo none; fi"
)
