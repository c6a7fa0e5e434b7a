"""Calls made in one turn of the event loop, sent to Redis as one.

A Redis call costs the daemon far more than the script it runs: redis-py's
pool, packing, parsing and a write and a read on the socket were half a
Redis-mode send's CPU in a profile of the saturation run, a call for each
slot, claim and release.  Sends move together (the group commit of
:mod:`proxy.recorder` wakes all of its writers in one turn, and a busy loop
reads many requests in one), so what they ask of one script in one turn is
asked in one call of it: the first ask of a turn starts a task that runs,
in the next turn, everything asked until then.  Under light load a batch is
one ask, and costs a future more than the call; under load the calls per
send fall as the load rises, as the group commit's writes do.

A script runs whole before any other command, so a batch of asks is what
the same asks one after the other would be.  A batch that fails fails each
of its asks with the same error, as their own calls would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Ask = TypeVar("Ask")
Answer = TypeVar("Answer")


class TickBatch(Generic[Ask, Answer]):
    """Asks of one turn, answered by one call of ``run`` (one answer an ask, in order)."""

    def __init__(self, run: Callable[[list[Ask]], Awaitable[list[Answer]]], name: str) -> None:
        self._run = run
        self._name = name
        self._asks: list[Ask] = []
        self._waiters: list[asyncio.Future[Answer]] = []
        # Batches under way: the loop keeps only weak references to tasks.
        self._running: set[asyncio.Task[None]] = set()
        self.calls = 0
        self.asks = 0

    def __repr__(self) -> str:
        return f"<TickBatch {self._name} calls={self.calls} asks={self.asks}>"

    def ask(self, ask: Ask) -> asyncio.Future[Answer]:
        """``ask``'s answer, once the turn's batch is run.

        Cancelling the future leaves the ask in its batch: what it asked for
        may still be done (a claim, a slot), as with a call cancelled after
        it went out.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Answer] = loop.create_future()
        if not self._asks:
            task = loop.create_task(self._flush(), name=f"batch-{self._name}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        self._asks.append(ask)
        self._waiters.append(waiter)
        return waiter

    async def _flush(self) -> None:
        asks, waiters = self._asks, self._waiters
        self._asks, self._waiters = [], []
        self.calls += 1
        self.asks += len(asks)
        try:
            answers = await self._run(asks)
        except BaseException as exc:
            for w in waiters:
                if not w.done():
                    if isinstance(exc, asyncio.CancelledError):
                        w.cancel()
                    else:
                        w.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for w, answer in zip(waiters, answers, strict=True):
            if not w.done():
                w.set_result(answer)
