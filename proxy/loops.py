"""Background loops: one named step, run again and again until the loop ends.

Everything the daemon does in the background (polls, the inbox matcher,
retention, balance checks, password refreshes, queue statistics, the HTTP
time-out sweep) is a :class:`Loop`.  It rests ``every_s`` after each step,
or, ``from_start``, starts its steps ``every_s`` apart however long each
takes (a poller: the vendor's interval, and a slow answer never brings the
next poll early).  A step that raises is logged with the loop's name and
tried again at its next time, or after a :class:`BackOff` once it keeps
failing, so an outage of the store is not one traceback per tick.
:meth:`Loop.wake` runs the next step now; :meth:`Loop.stop` lets a step
under way finish and begins no other; :meth:`Loop.cancel` ends the loop at
once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog

log = structlog.get_logger("smsproxy.loops")
# How long cancel() waits for a cancelled step to end before leaving it behind.
CANCEL_WAIT_S = 10.0

Step = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class BackOff:
    """The rest after failures in a row: ``first_s``, doubled for each, at most ``max_s``.

    Never shorter than the loop's own interval: a loop that fails now and
    then keeps its pace; only one that keeps failing slows down.
    """

    first_s: float = 0.5
    max_s: float = 30.0

    def after(self, failures: int) -> float:
        return min(self.max_s, self.first_s * 2.0 ** min(max(0, failures - 1), 30))


class Loop:
    def __init__(
        self,
        name: str,
        step: Step,
        *,
        every_s: float,
        first_s: float = 0.0,
        from_start: bool = False,
        back_off: BackOff | None = None,
        **context: str,
    ) -> None:
        self.name = name  # also the task's name
        self.every_s = every_s
        self.first_s = first_s  # before the first step
        self.from_start = from_start  # every_s from a step's start, not its end
        self.back_off = back_off or BackOff()
        self.steps = 0
        self.failures = 0  # in a row
        self._step = step
        self._context = context  # more fields for the failure's log line
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"<Loop {self.name} every {self.every_s}s steps={self.steps} "
            f"failures={self.failures} stopping={self._stopping}>"
        )

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"loop {self.name} is already started")
        self._task = asyncio.create_task(self.run(), name=self.name)

    def wake(self) -> None:
        """Run the next step now (after the one under way, if any)."""
        self._wake.set()

    def stop(self) -> None:
        """Begin no further step; a step under way finishes."""
        self._stopping = True
        self._wake.set()

    async def cancel(self) -> None:
        """End the loop now, a step under way included, and wait until it has ended."""
        task, self._task = self._task, None
        if task is None:
            return
        # Stopping too: a step whose clean-up turns the cancellation into an
        # error (a connection closed as it was cancelled) must not look like a
        # failure the loop retries, and leave this wait without an end.
        self.stop()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=CANCEL_WAIT_S)
        if not done:
            # A step that will not end (its clean-up waits on a dead
            # connection): left behind rather than holding a shutdown for ever.
            log.error("loop_cancel_stuck", loop=self.name, waited_s=CANCEL_WAIT_S)
            return
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run(self) -> None:
        """The loop itself, in the caller's task (:meth:`start` gives it one of its own)."""
        clock = asyncio.get_running_loop().time
        due = clock() + self.first_s
        while await self._rest_until(due):
            started = clock()
            self._wake.clear()
            try:
                await self._step()
            except Exception:  # a bug or an outage must not end the loop
                self.failures += 1
                rest = self.back_off.after(self.failures)
                log.exception(
                    "loop_failed",
                    loop=self.name,
                    **self._context,
                    failures=self.failures,
                    retry_in_s=rest,
                )
            else:
                self.failures = 0
                rest = 0.0
            self.steps += 1
            ended = clock()
            due = max((started if self.from_start else ended) + self.every_s, ended + rest)

    async def _rest_until(self, due: float) -> bool:
        """Wait for ``due``, a wake or a stop; False once stopped."""
        if not self._stopping and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._wake.wait()
        return not self._stopping


def start_all(loops: Iterable[Loop]) -> None:
    for loop in loops:
        loop.start()


async def cancel_all(loops: Iterable[Loop]) -> None:
    await asyncio.gather(*(loop.cancel() for loop in loops))


async def stop_all(loops: Sequence[Loop], grace_s: float) -> None:
    """Stop ``loops``; steps under way get ``grace_s`` to finish, then are cancelled."""
    for loop in loops:
        loop.stop()
    running = [loop.task for loop in loops if loop.task is not None]
    if running:
        await asyncio.wait(running, timeout=grace_s)
    await cancel_all(loops)
