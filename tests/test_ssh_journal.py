"""Who brought dockerd back, told from systemd's own messages on the docker units (the words
of Debian 12's systemd 252, as tests/integration/test_ssh_systemd.py reads them on a booted
node): each sentence, and no sentence where the messages show nothing."""

from __future__ import annotations

from lrmatrix.drivers.base import UnitMessage
from lrmatrix.drivers.ssh.journal import why_up_again

LABEL, SOCKET = "root@198.18.201.2:22", "/var/run/docker.sock"
EXITED = "docker.service: Main process exited, code=killed, status=9/KILL"
STARTING = "Starting docker.service - Docker Application Container Engine..."
STARTED = "Started docker.service - Docker Application Container Engine."


def said(*messages: tuple[float, str]) -> list[UnitMessage]:
    return [UnitMessage(t, 1000.0 + t, m) for t, m in messages]


def test_a_restart_systemd_scheduled_is_named_with_its_delay():
    why = why_up_again(
        said((1.0, EXITED), (1.1, "docker.service: Scheduled restart job, restart counter is at 1."),
             (1.2, STARTING), (1.6, STARTED)),
        42, LABEL, SOCKET,
    )  # fmt: skip
    assert why == (
        "systemd restarted dockerd 0.6 s after it exited (docker.service has Restart=on-failure; now pid 42)"
    )


def test_a_start_with_the_socket_listening_names_both_who_could_have():
    why = why_up_again(said((1.0, EXITED), (3.0, STARTING), (3.5, STARTED)), 42, LABEL, SOCKET)
    assert why is not None
    assert why.startswith("docker.service started again 2.5 s after it exited with docker.socket listening")
    assert f"socket activation by a client of {SOCKET}, or a start command" in why


def test_a_start_after_the_socket_closed_is_a_start_command():
    messages = said(
        (1.0, "Stopped docker.service - Docker Application Container Engine."),
        (1.1, "Closed docker.socket - Docker Socket for the API."),
        (4.0, STARTING),
        (4.2, STARTED),
    )
    why = why_up_again(messages, 42, LABEL, SOCKET)
    assert why is not None and why.startswith("docker.socket and docker.service were started again 3.2 s")
    assert "a start command, or a unit that requires them" in why


def test_a_socket_listening_again_without_dockerd_is_said():
    messages = said((1.1, "Closed docker.socket - Docker Socket for the API."),
                    (2.0, "Listening on docker.socket - Docker Socket for the API."))  # fmt: skip
    why = why_up_again(messages, None, LABEL, SOCKET)
    assert why == (
        f"docker.socket listens again on {LABEL}, started by something other than lrmatrix: "
        "its first client starts dockerd"
    )


def test_no_dockerd_and_no_socket_message_is_no_sentence():
    assert why_up_again(said((1.0, EXITED)), None, LABEL, SOCKET) is None
    assert why_up_again([], None, LABEL, SOCKET) is None
