"""Which master the daemon writes to when the sentinels disagree, lag or hang.

Real sentinels cannot be made to disagree, or to accept and never answer, on
demand: each sentinel here is a small server on a loopback socket speaking
the two commands :class:`~proxy.store.redis.connect.MajoritySentinel` asks
(``SENTINEL GET-MASTER-ADDR-BY-NAME`` and ``SENTINEL MASTER``) through
redis-py's real client.  tests/cluster/test_redis_sentinel.py runs real
sentinels through real failovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio.sentinel import MasterNotFoundError

from proxy.store.redis.connect import SENTINEL_TIMEOUT_S, VOTE_GRACE_S, MajoritySentinel

NAME = "smsproxy"
OLD, NEW = ("127.0.0.1", 7001), ("127.0.0.1", 7002)


@dataclass
class FakeSentinel:
    """Names ``master`` (None: none); ``down`` flags it s_down; ``hang``: never answers."""

    master: tuple[str, int] | None
    down: bool = False
    hang: bool = False
    asked: int = 0
    port: int = 0
    _server: asyncio.Server | None = field(default=None, repr=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while command := await _read_command(reader):
                if self.hang:
                    await asyncio.sleep(3600)
                writer.write(self._answer([c.upper() for c in command[:2]]))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _answer(self, command: list[bytes]) -> bytes:
        if command == [b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME"]:
            self.asked += 1
            if self.master is None:
                return b"*-1\r\n"
            return _array([self.master[0], str(self.master[1])])
        if command == [b"SENTINEL", b"MASTER"]:
            if self.master is None:
                return b"-ERR No such master with that name\r\n"
            flags = "s_down,master" if self.down else "master"
            ip, port = self.master
            return _array(["name", NAME, "ip", ip, "port", str(port), "flags", flags])
        return b"+OK\r\n"  # CLIENT SETINFO and the like


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    head = await reader.readline()
    if not head:
        return []
    assert head.startswith(b"*"), head
    parts = []
    for _ in range(int(head[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


def _array(items: list[str]) -> bytes:
    return f"*{len(items)}\r\n".encode() + b"".join(
        f"${len(i.encode())}\r\n{i}\r\n".encode() for i in items
    )


@contextlib.asynccontextmanager
async def voting(*sentinels: FakeSentinel) -> AsyncIterator[MajoritySentinel]:
    for s in sentinels:
        await s.start()
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    manager = MajoritySentinel(
        [("127.0.0.1", s.port) for s in sentinels],
        sentinel_kwargs={
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "retry": Retry(NoBackoff(), 0),
        },
    )
    try:
        yield manager
    finally:
        for client in manager.sentinels:
            await client.aclose()
        for s in sentinels:
            await s.stop()


async def test_most_sentinels_outvote_the_first_listed() -> None:
    # The first lags behind a failover the other two have seen.
    async with voting(FakeSentinel(OLD), FakeSentinel(NEW), FakeSentinel(NEW)) as manager:
        assert await manager.discover_master(NAME) == NEW


async def test_a_sentinel_that_finds_its_master_down_names_none() -> None:
    async with voting(FakeSentinel(OLD, down=True), FakeSentinel(NEW)) as manager:
        assert await manager.discover_master(NAME) == NEW


async def test_on_a_tie_the_first_listed_sentinel_s_master() -> None:
    async with voting(FakeSentinel(OLD), FakeSentinel(NEW)) as manager:
        assert await manager.discover_master(NAME) == OLD
    async with voting(FakeSentinel(NEW), FakeSentinel(OLD)) as manager:
        assert await manager.discover_master(NAME) == NEW


async def test_no_master_named_is_no_master_found() -> None:
    async with voting(FakeSentinel(None), FakeSentinel(OLD, down=True)) as manager:
        with pytest.raises(MasterNotFoundError):
            await manager.discover_master(NAME)


@pytest.mark.parametrize("others", [1, 2])
async def test_a_sentinel_that_never_answers_does_not_hold_up_the_rest(others: int) -> None:
    # With two sentinels one answer is no majority: the hung one gets the grace, no more.
    hung = FakeSentinel(OLD, hang=True)
    async with voting(hung, *(FakeSentinel(NEW) for _ in range(others))) as manager:
        started = time.monotonic()
        assert await manager.discover_master(NAME) == NEW
        took = time.monotonic() - started
    assert took < VOTE_GRACE_S + 0.5 < SENTINEL_TIMEOUT_S, took


async def test_callers_at_one_moment_share_one_vote() -> None:
    sentinels = [FakeSentinel(NEW) for _ in range(3)]
    async with voting(*sentinels) as manager:
        named = await asyncio.gather(*(manager.discover_master(NAME) for _ in range(50)))
        assert set(named) == {NEW}
        assert [s.asked for s in sentinels] == [1, 1, 1]
        # One caller cancelled does not cancel the vote the others wait for.
        await asyncio.sleep(0.2)  # past VOTE_STANDS_S: a new vote
        first = asyncio.ensure_future(manager.discover_master(NAME))
        second = asyncio.ensure_future(manager.discover_master(NAME))
        await asyncio.sleep(0)
        first.cancel()
        assert await second == NEW
        assert [s.asked for s in sentinels] == [2, 2, 2]
