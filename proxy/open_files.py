"""How many connections the process's open-file limit leaves room for.

Every connection is a file descriptor.  A port that accepts past the
process's limit fails inside the event loop's accept, where the client is
dropped without an answer and nothing is logged; so at start the soft limit
is raised to the hard one (what an unprivileged process may do), and each
port's ``http.max_connections`` is cut to what the descriptors left after
the store and the vendors' connection pools can hold, with a warning that
names the limit to raise.
"""

from __future__ import annotations

import resource
from typing import NamedTuple

import structlog

log = structlog.get_logger("smsproxy.open_files")

# Descriptors kept for the store, the poll spool, logs, the event loop's own
# and a reload's second set of vendor connections.
RESERVED = 256
PORTS = 3


class ConnectionBudget(NamedTuple):
    open_files: int  # the soft limit after raising it
    per_port: int  # connections each port may hold


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one; the soft limit in force after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a sandbox may forbid it: the warning below tells
            pass
    return soft


def connection_budget(max_connections: int, vendor_connections: int) -> ConnectionBudget:
    """Each port's connection cap under the process's open-file limit."""
    open_files = raise_open_file_limit()
    if open_files == resource.RLIM_INFINITY:
        return ConnectionBudget(open_files, max_connections)
    room = max(16, (open_files - RESERVED - vendor_connections) // PORTS)
    per_port = min(max_connections, room)
    if per_port < max_connections:
        log.warning(
            "open_file_limit_low",
            open_files=open_files,
            connections_per_port=per_port,
            max_connections=max_connections,
            fix="raise the hard open-file limit (LimitNOFILE= in the service unit, ulimit -Hn)"
            f" to at least {PORTS * max_connections + RESERVED + vendor_connections}",
        )
    return ConnectionBudget(open_files, per_port)
