"""One daemon a state file: a lock beside it, held while that daemon runs.

A daemon on SQLite keeps what several daemons would have to share in its
own memory: the send locks that stop a retry from sending a number twice,
the quota's usage, and the batches it is handing to clients (a daemon that
starts puts every held batch back in line, taking it for a dead daemon's).
A second daemon on the same file would break all three, so it is refused
at its start, before it touches the file.  The lock is the kernel's
(``flock``): a daemon killed with SIGKILL leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from proxy.store.base import StoreUnavailable


class StateFileOwner:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def __repr__(self) -> str:
        return f"<StateFileOwner {self.path} held={self._fd is not None}>"

    @classmethod
    def take(cls, state: Path) -> StateFileOwner:
        # Beside the file itself: two configs naming it through a link share it.
        path = Path(f"{state.resolve()}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            problem = f"state.path {state}: cannot open {path}: {exc.strerror}"
            raise StoreUnavailable(problem) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreUnavailable(
                f"state.path {state} is in use by another smsproxy daemon: give each"
                " daemon its own state file, or let them share state in Redis"
                ' (state.engine = "redis")'
            ) from None
        return cls(path, fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
