"""Client retries must not send an SMS twice.

A legacy client that timed out (or got an error for part of its numbers)
resends the same text to the same numbers.  Within ``routing.dedup_window_s``
the numbers a vendor already accepted — or may have, after an ambiguous
answer — are left out.  Identical sends of one client are serialised, so a
retry that arrives while the first attempt is still in flight waits for it
and then sees its records, instead of racing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SendLocks:
    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def __repr__(self) -> str:
        return f"<SendLocks held={len(self._locks)}>"

    @asynccontextmanager
    async def hold(self, cpid: str, text_digest: str) -> AsyncIterator[None]:
        key = (cpid, text_digest)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
