"""Asks of one turn of the event loop, run as one call."""

from __future__ import annotations

import asyncio

import pytest

from proxy.store.redis.batch import TickBatch


async def test_asks_of_one_turn_are_one_call_and_the_next_turn_another() -> None:
    calls: list[list[int]] = []

    async def double(asks: list[int]) -> list[int]:
        calls.append(asks)
        await asyncio.sleep(0)
        return [2 * a for a in asks]

    batch = TickBatch(double, "double")
    assert await asyncio.gather(*(batch.ask(i) for i in range(4))) == [0, 2, 4, 6]
    assert await batch.ask(5) == 10
    assert calls == [[0, 1, 2, 3], [5]]
    assert (batch.calls, batch.asks) == (2, 5)


async def test_a_failed_call_fails_each_ask_and_a_cancelled_ask_stays_in_its_batch() -> None:
    seen: list[list[str]] = []

    async def refuse(asks: list[str]) -> list[str]:
        seen.append(asks)
        raise ConnectionError("gone")

    batch = TickBatch(refuse, "refuse")
    first, second = batch.ask("a"), batch.ask("b")
    second.cancel()
    with pytest.raises(ConnectionError):
        await first
    assert seen == [["a", "b"]]
