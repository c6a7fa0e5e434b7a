"""systemd's readiness protocol: a datagram to ``$NOTIFY_SOCKET`` (``Type=notify``).

``READY=1`` once the three ports listen, ``STOPPING=1`` when a stop begins.
Without ``$NOTIFY_SOCKET`` (not under systemd) nothing is sent.  The protocol
is one ``sendto`` on a unix datagram socket, so it is written here rather
than taken from a library; an abstract socket starts with ``@``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("smsproxy")


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``…) to systemd; whether it was sent."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
    except OSError as exc:  # systemd goes on without it: log, do not fail the daemon
        log.warning("sd_notify_failed", state=state, error=repr(exc))
        return False
    return True
