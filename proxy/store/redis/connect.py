"""The Redis client of the store: one server, or the master Sentinel names, through a failover.

Both pools are bounded and blocking: more calls in flight than connections
wait for one (redis-py's default pool fails the call instead, and a burst of
sends met a busy server with ``-110``), and a wait that runs out raises
:class:`~proxy.store.redis.pool.PoolExhausted`, which the legacy port answers
``-15``.

With Sentinel a failover takes a few seconds: the old master stops answering
(killed) or turns read-only (``SENTINEL FAILOVER``), and the sentinels then
name a new one.  A call waits that out (``state.redis_failover_wait_s``) only
when Redis surely did not run it: the connection could not be made, no
master was known, or the server refused the command as a replica
(``READONLY``).  A connection lost after the command went out may have run
it, and a script such as ``take_reports`` must not run twice, so that call
gets the one retry a plain server gets and then fails: the caller answers it
as it answers any store failure.

``state.redis_min_replicas_acked`` makes every script (the claims, the send
records and their settlements, the report hand-outs: what a ``0`` stands on)
wait for that many replicas with ``WAIT``, in the same round trip.  A write
the old master acknowledged but had not yet passed on is what an
asynchronous failover loses; one a replica has acknowledged survives, since
Sentinel promotes the replica with the most data.  Scripts listed in
``FailoverRedis.unwaited`` (the rate limits' check, and scripts that only read) do not wait.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import (
    MasterNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
)
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import str_if_bytes

from config.redis_target import RedisTarget
from core.busy import StoreBusy
from proxy.store.redis.pool import WaitingPool

log = structlog.get_logger("smsproxy.redis")

MAX_CONNECTIONS = 100
POOL_WAIT_S = 5.0  # then PoolExhausted, a StoreBusy: answered -15
CONNECT_TIMEOUT_S = 3.0
SOCKET_TIMEOUT_S = 5.0
SENTINEL_TIMEOUT_S = 1.0  # a sentinel that does not answer in this long is skipped
# Once one sentinel has named a master and no majority agrees yet, how long
# the others still have.
VOTE_GRACE_S = 0.2
# How long the sentinels' answer stands: the connections a burst opens share it.
VOTE_STANDS_S = 0.1
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 0.5
# Scripts are what the store's roles write with (proxy.store.redis.keyspace).
SCRIPT_COMMANDS = frozenset({"EVALSHA", "EVAL"})


class NotSent(RedisConnectionError, StoreBusy):
    """The command surely did not run: no connection, no master, or refused by a replica."""


class Unanswered(RedisConnectionError, StoreBusy):
    """Redis did not answer in time, or the connection was lost once the command
    had gone out: it may have run.

    Still the store being busy: before any vendor has the message the client
    hears ``-15`` and tries again, and what the call may have done stands in
    the way of nothing a retry does twice (a claim is undone, a record of an
    attempt in flight reads as unresolved).  redis-py's own TimeoutError and
    ConnectionError were answered ``-110``, "call your account manager".
    Not a :class:`NotSent`: a caller that undoes what a failed call did (the
    claims) must not take it as never run.
    """

    may_have_run = True


class MaybeRan(Unanswered):
    """Lost after it was sent, and its retry not sent: the first may have run."""


def _unanswered(exc: RedisError) -> RedisError:
    """What a failed call raises: redis-py's connection errors and time-outs as
    :class:`Unanswered`, the rest (ours, and the server's own errors) as they are."""
    if isinstance(exc, StoreBusy) or not isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return exc
    return Unanswered(f"{type(exc).__name__}: {exc}")


class ReplicasBehind(RedisError, StoreBusy):
    """A script ran on the master but too few replicas acknowledged it: a failover
    may take it back, so what it backs must not be answered as done.

    Before a send, that is the store being busy (``-15``: the client tries
    again), as when the pool's connections are all taken; never ``-110``.
    ``answer`` is the script's: what it wrote can be undone on the master.
    """

    may_have_run = True

    def __init__(self, message: str, answer: Any) -> None:
        super().__init__(message)
        self.answer = answer


class FailoverConnection(SentinelManagedConnection):
    """A connection to the master of the moment, telling apart what surely did not run."""

    async def connect(self) -> None:
        try:
            await super().connect()  # type: ignore[no-untyped-call]
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # MasterNotFoundError (no sentinel names one yet) is one of these.
            raise NotSent(f"no connection to the master: {type(exc).__name__}: {exc}") from exc

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ReadOnlyError:  # the master of a moment ago, now a replica
            await self.disconnect()
            raise NotSent("the master turned replica (failover)") from None
        except ResponseError as exc:
            # min-replicas-to-write refused it: the master lost its replicas,
            # often because the sentinels promoted one.
            if str(exc).startswith("NOREPLICAS"):
                await self.disconnect()
                raise NotSent("the master has too few replicas to write") from exc
            raise
        except RedisConnectionError as exc:
            if str(exc) == "The previous master is now a slave":  # redis-py's own translation
                raise NotSent("the master turned replica (failover)") from exc
            raise


class MajoritySentinel(Sentinel):
    """The master most sentinels name, as each names it to clients.

    redis-py takes the first sentinel whose ``SENTINEL MASTERS`` shows a
    master not down.  The sentinel leading a failover keeps showing the old
    master there until it has reconfigured the replicas (up to the
    failover's time-out, seconds); and a sentinel that missed a second
    failover names the loser.  ``SENTINEL GET-MASTER-ADDR-BY-NAME`` names
    the promoted replica from the moment it is promoted, and the majority
    outvotes one sentinel behind the others.  A sentinel that finds the master
    it names down (no failover yet) names none.

    Every new connection asks, and so does every write too few replicas
    acknowledged: callers at the same moment share one vote, and a vote
    stands for :data:`VOTE_STANDS_S`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._voting: dict[str, asyncio.Future[tuple[str, int]]] = {}
        self._voted: dict[str, tuple[float, tuple[str, int]]] = {}
        self._late: set[asyncio.Future[tuple[str, int] | None]] = set()

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        voted = self._voted.get(service_name)
        if voted is not None and time.monotonic() - voted[0] < VOTE_STANDS_S:
            return voted[1]
        voting = self._voting.get(service_name)
        if voting is None or voting.done():
            voting = asyncio.ensure_future(self._vote(service_name))
            # Retrieved even when every caller was cancelled meanwhile.
            voting.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._voting[service_name] = voting
        # One caller cancelled (its send's deadline) must not cancel the others' vote.
        return await asyncio.shield(voting)

    async def _vote(self, service_name: str) -> tuple[str, int]:
        asks: dict[asyncio.Future[tuple[str, int] | None], int] = {
            asyncio.ensure_future(_named_by(s, service_name)): i
            for i, s in enumerate(self.sentinels)
        }
        majority = len(asks) // 2 + 1
        votes: Counter[tuple[str, int]] = Counter()
        listed: dict[tuple[str, int], int] = {}  # each address's first sentinel
        pending: set[asyncio.Future[tuple[str, int] | None]] = set(asks)
        loop = asyncio.get_running_loop()
        until: float | None = None
        best: tuple[str, int] | None = None
        while pending:
            wait = None if until is None else max(0.0, until - loop.time())
            done, pending = await asyncio.wait(
                pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                break  # the grace ran out
            for ask in done:
                address = ask.result()
                if address is not None:
                    votes[address] += 1
                    listed[address] = min(listed.get(address, len(asks)), asks[ask])
            if votes:
                # The most named; on a tie, the one a sentinel listed first names.
                best = max(votes, key=lambda a: (votes[a], -listed[a]))
                if votes[best] >= majority:
                    break
                # A sentinel that does not answer (a host gone: SENTINEL_TIMEOUT_S)
                # must not hold up every connection once another has answered.
                until = until if until is not None else loop.time() + VOTE_GRACE_S
        # Those still asking finish on their own, within SENTINEL_TIMEOUT_S and
        # no retry: cancelled mid-read, redis-py would drop a healthy sentinel's connection.
        for ask in pending:
            self._late.add(ask)
            ask.add_done_callback(self._late.discard)
        if best is None:
            raise MasterNotFoundError(f"no sentinel names a master for {service_name!r}")
        self._voted[service_name] = (time.monotonic(), best)
        return best


async def _named_by(sentinel: Redis, service_name: str) -> tuple[str, int] | None:
    """What one sentinel names, in one round trip; None when it names none."""
    try:
        async with sentinel.pipeline(transaction=False) as pipe:
            pipe.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service_name)
            pipe.execute_command("SENTINEL", "MASTER", service_name)
            address, state = await pipe.execute()
        if not address:
            return None
        host, port = str_if_bytes(address[0]), int(address[1])
        # A map, or (RESP2) its keys and values in turn.
        if not isinstance(state, dict):
            state = dict(zip(state[::2], state[1::2], strict=True))
        fields = {str_if_bytes(k): str_if_bytes(v) for k, v in state.items()}
    except (RedisError, OSError, ValueError, TypeError, IndexError):
        return None  # down, unsure or garbled: the others decide
    down = {"s_down", "o_down"} & set(str(fields.get("flags", "")).split(","))
    if down and (fields.get("ip"), fields.get("port")) == (host, str(port)):
        return None  # the master it names is down, and nothing promoted yet
    return host, port


class BlockingSentinelPool(SentinelConnectionPool, WaitingPool):
    """Sentinel's pool (which asks who the master is) with the blocking pool's bound.

    When the sentinels name another master, redis-py closes only the
    connections idle at that moment.  One in use then (a send in flight) came
    back to the pool still open to the former master, which may live on
    believing it is one (cut off from the sentinels, or the loser of a second
    failover) until a sentinel turns it into a replica, seconds later: every
    write on it found no replica (``-15``), and asking the sentinels again
    changed nothing.  So a connection to any other address is closed as it
    comes back; its next use connects to the master of the moment.
    """

    async def release(self, connection: AbstractConnection) -> None:
        address = getattr(connection, "host", None), getattr(connection, "port", None)
        try:
            if self.master_address is not None and address != self.master_address:
                await connection.disconnect(nowait=True)
        except Exception as exc:  # closing a socket: nothing to lose but the socket
            log.info("redis_connection_not_closed", error=type(exc).__name__)
        finally:
            await super().release(connection)


class StoreClient(Redis):
    """The store's client of Redis, whose connection errors and time-outs are the
    store busy (:class:`Unanswered`): the client of one server as it is."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await self._run(*args, **options)
        except RedisError as exc:
            translated = _unanswered(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def _run(self, *args: Any, **options: Any) -> Any:
        """The call itself, untranslated."""
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


class FailoverRedis(StoreClient):
    """A client whose calls wait out a failover when they surely did not run,
    and whose scripts wait for ``min_replicas`` replicas when asked to."""

    failover_wait_s: float = 0.0
    min_replicas: int = 0
    replica_timeout_ms: int = 100
    unacked: int = 0  # scripts whose replicas did not all acknowledge in time
    # Scripts (SHA1) whose writes back nothing a failover must keep: not waited for.
    unwaited: frozenset[str] = frozenset()

    async def _run(self, *args: Any, **options: Any) -> Any:
        give_up = time.monotonic() + self.failover_wait_s
        pause = FIRST_PAUSE_S
        retried_lost = False
        while True:
            try:
                if self.min_replicas and self._waited(args):
                    return await self._acknowledged(*args, **options)
                return await super()._run(*args, **options)
            except NotSent as exc:
                if time.monotonic() + pause > give_up:
                    if retried_lost:
                        raise MaybeRan(f"lost once sent, then not sent again: {exc}") from exc
                    raise
            except RedisConnectionError:
                # Lost after it went out: it may have run.  One retry, as for one server.
                if retried_lost:
                    raise
                retried_lost = True
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)

    def _waited(self, args: tuple[Any, ...]) -> bool:
        return str(args[0]).upper() in SCRIPT_COMMANDS and str(args[1]) not in self.unwaited

    async def _acknowledged(self, *args: Any, **options: Any) -> Any:
        """The script and a ``WAIT`` on one connection, in one round trip."""
        async with self.pipeline(transaction=False) as pipe:
            pipe.execute_command(*args, **options)
            pipe.execute_command("WAIT", self.min_replicas, self.replica_timeout_ms)
            answer, acked = await pipe.execute()
        if int(acked) < self.min_replicas:
            self.unacked += 1
            log.warning(
                "redis_replicas_not_acknowledged",
                wanted=self.min_replicas,
                acknowledged=int(acked),
                timeout_ms=self.replica_timeout_ms,
            )
            # A master whose replica left is often one the sentinels have just
            # replaced: ask them, so the next connection goes to the new one.
            pool = self.connection_pool
            if isinstance(pool, SentinelConnectionPool):
                await pool.get_master_address()  # type: ignore[no-untyped-call]
            raise ReplicasBehind(
                f"{int(acked)} of {self.min_replicas} replica(s) acknowledged the write"
                f" in {self.replica_timeout_ms} ms",
                answer,
            )
        return answer


def one_server(url: str) -> Redis:
    pool = WaitingPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        # One retry, and only for a connection found dead (a Redis restart):
        # a timed-out script may have run, and running reserve_quota or
        # take_reports twice is not harmless.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return StoreClient.from_pool(pool)


def through_sentinels(
    target: RedisTarget,
    sentinel_password: str | None,
    failover_wait_s: float,
    min_replicas: int = 0,
    replica_timeout_ms: int = 100,
) -> FailoverRedis:
    sentinel = MajoritySentinel(
        list(target.sentinels),
        sentinel_kwargs={
            "password": sentinel_password,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            "socket_timeout": SENTINEL_TIMEOUT_S,
            # redis-py's default retries a sentinel that does not answer ten
            # times: 15 s for one that accepts and never answers.
            "retry": Retry(NoBackoff(), 0),
        },
    )
    pool = BlockingSentinelPool(  # type: ignore[no-untyped-call]
        target.master,
        sentinel,
        connection_class=FailoverConnection,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        db=target.db,
        password=target.password,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        # FailoverRedis does the retrying: it knows what surely did not run.
        retry=Retry(NoBackoff(), 0),
    )
    client = FailoverRedis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as Redis.from_pool: closing the client closes it
    client.failover_wait_s = failover_wait_s
    client.min_replicas = min_replicas
    client.replica_timeout_ms = replica_timeout_ms
    return client
