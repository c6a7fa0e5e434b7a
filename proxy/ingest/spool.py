"""Poll answers on disk from the moment they arrive until their rows are stored.

A polled vendor hands each report out once: what a poll took is lost if the
daemon dies before it is in the store.  Writing the rows goes through the
store's one writer, behind the sends' group commits, which took 3–33 ms
(median 10) at 200 sends/s.  So the answer's raw bytes are appended to this
file first, in one ``write``, before they are even parsed, and once their
rows are stored the file is emptied.  A daemon killed in between finds the
answer here when it starts again and stores it then; storing twice is
harmless, since the inbox drops rows whose keys it has.

What is left at risk: the moment between the last byte of the answer
arriving and that ``write`` (the poll task resuming after the exchange), and
an answer the vendor wrote to a connection whose daemon had just died.  The
file is written, not synced: it survives the process, not the machine
(like SQLite's log with ``synchronous=NORMAL``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from core.send import HttpRequest, HttpResponse

log = structlog.get_logger("smsproxy.ingest")


class SpoolInUse(RuntimeError):
    """Another process holds the spool; the message names the option."""


@dataclass(frozen=True, slots=True)
class SpooledPoll:
    account: str
    request: HttpRequest
    response: HttpResponse


class PollSpool:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Read and written by this process only; it may hold message texts.
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        # One an older version (or a wide umask's copy) left open to others is closed.
        os.fchmod(self._fd, 0o600)
        try:
            # Each daemon empties its spool when its own answers are stored:
            # two daemons on one file would empty each other's.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise SpoolInUse(f"reports.spool_path {path} is in use by another daemon") from None
        self._open = 0  # answers kept and not yet stored

    def __repr__(self) -> str:
        return f"<PollSpool {self.path} open={self._open}>"

    # Daemons sharing a directory (and so a default path) each take the first
    # free one of this many, so none needs a path of its own.
    SIBLINGS = 16

    @classmethod
    def first_free(cls, path: Path) -> PollSpool:
        """The spool at ``path``, or at ``path.2``, ``path.3``… when another daemon
        holds it.  A daemon that starts after one died takes the first free one,
        which may be the dead daemon's: it stores what that one left, which is
        what every daemon of one config can do."""
        for n in range(1, cls.SIBLINGS + 1):
            try:
                return cls(path if n == 1 else path.with_name(f"{path.name}.{n}"))
            except SpoolInUse:
                continue
        raise SpoolInUse(
            f"reports.spool_path {path} and its {cls.SIBLINGS - 1} siblings are all in use"
        )

    def keep(self, account: str, request: HttpRequest, response: HttpResponse) -> bool:
        """Append one answer, in one write; False when the disk refused it.

        The line starts with a newline too, so a line torn by a daemon killed
        mid-write ends there and :meth:`left_over` skips it alone.
        """
        line = json.dumps(
            [
                account,
                request.method,
                request.path,
                request.query,
                response.status,
                response.content_type,
                base64.b64encode(response.body).decode("ascii"),
            ]
        )
        data = b"\n" + line.encode("ascii") + b"\n"
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            # The answer is still in hand: store it unkept rather than drop it.
            log.error("spool_write_failed", path=str(self.path), error=repr(exc))
            return False
        if written != len(data):
            log.error("spool_write_short", path=str(self.path), written=written)
            return False
        self._open += 1
        return True

    def stored(self) -> None:
        """One kept answer's rows are in the store (or it had none to store)."""
        self._open -= 1
        if self._open == 0:
            os.ftruncate(self._fd, 0)

    def left_over(self) -> list[SpooledPoll]:
        """What a daemon that died before storing it had kept (call before polling)."""
        with open(self._fd, "rb", closefd=False) as f:
            f.seek(0)
            lines = f.read().split(b"\n")
        found = []
        for line in lines:
            if not line:
                continue
            try:
                account, method, path, query, status, ctype, body = json.loads(line)
                request = HttpRequest(method, path, query)
                found.append(
                    SpooledPoll(
                        account, request, HttpResponse(status, base64.b64decode(body), ctype)
                    )
                )
            except (ValueError, TypeError):
                log.warning("spool_line_unreadable", path=str(self.path), size=len(line))
        return found

    def clear(self) -> None:
        if self._open == 0:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)
