"""Throttling wrong passwords: lock-outs per source address and per cpid.

Every failed login counts against its source address and its cpid: a wrong
``cppwd`` on ``/mt/``, ``/qamount/``, ``/qreport/`` or ``/mo/``, a wrong
``oldpwd`` on ``/ent/``, an unknown cpid, an address outside the client's
``allowed_ips``.  ``login.max_failures_per_address`` failures from one
address within ``login.window_s`` (counted from the first) lock that address
out for ``login.lockout_s``, whatever cpid it names;
``login.max_failures_per_client`` failures for one cpid, from anywhere,
lock the cpid out likewise.  A login during a lock-out is refused without
its password being looked at — the legacy endpoints answer ``-9``
(esms100's 账户无效或暂停使用, account suspended), ``/ent/`` ``-1`` — so a
guesser learns nothing, whether the guess was right or wrong.

An attacker must not be able to lock the real client out: an address that
logged in to a cpid within :data:`KNOWN_ADDRESS_S` is not held by that
cpid's lock-out (its own address lock-out, which only its own failures
earn, still holds it).

What it costs.  A login from an address and for a cpid with no failures
lately costs a dictionary look-up here (there are none to look up while
nobody fails): the password check decides.  Only an address or cpid that
failed through this daemon lately (a *note*, kept for ``window_s`` or the
lock-out, whichever is longer) is asked about before its password is
checked.  With one daemon on SQLite the counts live in this process; with
Redis (``state.engine = "redis"``) they live in Redis
(:mod:`proxy.store.redis.logins`), so every daemon counts toward, and is
held by, the same lock-outs; there a failure costs a round trip, and so
does a login of a noted address or cpid, never another.  A daemon learns
of a lock-out another daemon started at its own first failure of that
address or cpid: one guess per daemon may still be checked.  Successful
logins are told to Redis in one batch every :data:`SHARE_EVERY_S` at most
(by :meth:`proxy.clients.ClientBook.refresher`), so every daemon
knows the real client's addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeVar

import structlog

from config.settings import LoginSettings
from proxy.store.logins import LoginCount, LoginCounter, LoginLimits, LoginLocks

log = structlog.get_logger("smsproxy.login")

KNOWN_ADDRESS_S = 86_400.0
# A (cpid, address) that keeps logging in is told to the shared counter
# again this often: its time there stays within this of the truth.
SHARE_EVERY_S = 60.0
# Attackers choose addresses and cpids: what is kept of them is bounded.
MAX_KEYS = 100_000

# cpids come from anyone: keys are cut to the longest a client may have.
MAX_CPID = 64

Scope = Literal["address", "client"]
K = TypeVar("K")
V = TypeVar("V")
SCOPES: tuple[Scope, ...] = ("address", "client")


class LockedOut(Exception):
    """The login was refused unchecked: its address or its cpid is locked out."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope)
        self.scope = scope


class LoginObserver(Protocol):
    def login_failed(self) -> None: ...

    def login_locked_out(self, scope: Scope) -> None: ...

    def login_refused(self, scope: Scope) -> None: ...


def limits_of(settings: LoginSettings) -> LoginLimits:
    return LoginLimits(
        window_ms=int(settings.window_s * 1000),
        lockout_ms=int(settings.lockout_s * 1000),
        max_per_address=settings.max_failures_per_address,
        max_per_client=settings.max_failures_per_client,
    )


def _bound(entries: dict[K, V], now: float, ends: Callable[[V], float]) -> None:
    """Keep at most MAX_KEYS: the expired go first, then the oldest."""
    if len(entries) <= MAX_KEYS:
        return
    for key, value in list(entries.items()):
        if ends(value) <= now:
            del entries[key]
    for key in list(entries)[: max(0, len(entries) - MAX_KEYS)]:
        del entries[key]


class LocalLoginCounter:
    """Failed logins counted in this process: for a store one daemon uses (SQLite)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key: count, window ends
        self._locks: dict[str, float] = {}  # key: lock-out ends

    def __repr__(self) -> str:
        return f"<LocalLoginCounter failing={len(self._failures)} locked={len(self._locks)}>"

    async def count_failure(self, cpid: str, address: str, limits: LoginLimits) -> LoginCount:
        now = self._clock()
        address_ms, address_at = self._count(f"a:{address}", limits.max_per_address, limits, now)
        client_ms, client_at = self._count(f"c:{cpid}", limits.max_per_client, limits, now)
        return LoginCount(address_ms, client_ms, address_at, client_at)

    def _count(self, key: str, most: int, limits: LoginLimits, now: float) -> tuple[int, int]:
        left = self._left_ms(key, now)
        if left:
            return left, 0
        count, ends = self._failures.get(key, (0, now))
        if ends <= now:
            count, ends = 0, now + limits.window_ms / 1000
        count += 1
        if count < most:
            self._failures[key] = (count, ends)
            _bound(self._failures, now, lambda v: v[1])
            return 0, 0
        # Locked out: the count starts afresh once the lock-out ends.
        self._failures.pop(key, None)
        self._locks[key] = now + limits.lockout_ms / 1000
        _bound(self._locks, now, float)
        return limits.lockout_ms, count

    def _left_ms(self, key: str, now: float) -> int:
        until = self._locks.get(key)
        if until is None:
            return 0
        if until <= now:
            del self._locks[key]
            return 0
        return max(1, int((until - now) * 1000))

    async def locks(self, cpid: str, address: str, known_since_ms: int) -> LoginLocks:
        now = self._clock()
        # Known addresses are the throttle's own memory: one daemon, nothing to share.
        address_ms = self._left_ms(f"a:{address}", now)
        return LoginLocks(address_ms, self._left_ms(f"c:{cpid}", now), False)

    async def remember(self, logins: Sequence[tuple[str, str]], now_ms: int, keep_ms: int) -> None:
        return None

    def tidy(self) -> None:
        now = self._clock()
        self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        self._locks = {k: v for k, v in self._locks.items() if v > now}


class LoginThrottle:
    """Lock-outs after failed logins; outlives a config reload (see :meth:`configure`)."""

    def __init__(
        self,
        settings: LoginSettings,
        observer: LoginObserver,
        shared: LoginCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        local = LocalLoginCounter(clock)
        self._local = local if shared is None else None
        self._counter: LoginCounter = local if shared is None else shared
        self._observer = observer
        self._clock = clock
        self._wall = wall
        self.settings = settings
        self._limits = limits_of(settings)
        # "a:<address>" / "c:<cpid>" that failed through this daemon lately,
        # and until when they are asked about before a password is checked.
        self._noted: dict[str, float] = {}
        # (cpid, address) -> when it last logged in through this daemon.
        self._logins: dict[tuple[str, str], float] = {}
        self._told: dict[tuple[str, str], float] = {}  # when last told to the shared counter

    def __repr__(self) -> str:
        where = "local" if self._local is not None else "shared"
        return f"<LoginThrottle {where} noted={len(self._noted)} known={len(self._logins)}>"

    def configure(self, settings: LoginSettings) -> None:
        """Take a reloaded ``[login]``; counts and lock-outs so far stay."""
        self.settings = settings
        self._limits = limits_of(settings)

    def watching(self, cpid: str, address: str) -> bool:
        """Whether this login must be asked about (:meth:`admit`) before its password."""
        noted = self._noted
        if not noted:
            return False
        now = self._clock()
        return noted.get(f"a:{address}", 0.0) > now or noted.get(f"c:{cpid[:MAX_CPID]}", 0.0) > now

    async def admit(self, cpid: str, address: str) -> None:
        """Raise :class:`LockedOut` when the address is locked out, or the cpid is
        and the address is not one it logged in from lately."""
        cpid = cpid[:MAX_CPID]
        known_since_ms = int((self._wall() - KNOWN_ADDRESS_S) * 1000)
        try:
            locks = await self._counter.locks(cpid, address, known_since_ms)
        except Exception as exc:  # a store away: the password decides, as before
            log.warning("login_locks_unknown", error=type(exc).__name__)
            return
        if locks.address_ms:
            self._refuse("address")
        if locks.client_ms and not (locks.known or self.knows(cpid, address)):
            self._refuse("client")

    def _refuse(self, scope: Scope) -> None:
        self._observer.login_refused(scope)
        raise LockedOut(scope)

    def knows(self, cpid: str, address: str) -> bool:
        """The address logged in to the cpid through this daemon lately."""
        last = self._logins.get((cpid, address))
        return last is not None and self._clock() - last < KNOWN_ADDRESS_S

    def succeeded(self, cpid: str, address: str) -> None:
        self._logins[(cpid, address)] = self._clock()

    async def failed(self, cpid: str, address: str) -> None:
        """Count a failed login; log and count a lock-out it starts."""
        self._observer.login_failed()
        cpid = cpid[:MAX_CPID]
        now = self._clock()
        ahead = max(self.settings.window_s, self.settings.lockout_s)
        self._note(f"a:{address}", now + ahead)
        self._note(f"c:{cpid}", now + ahead)
        try:
            count = await self._counter.count_failure(cpid, address, self._limits)
        except Exception as exc:  # a store away: the next failure counts
            log.warning("login_failure_not_counted", error=type(exc).__name__)
            return
        # A lock-out another daemon started may outlast the note.
        self._note(f"a:{address}", now + count.address_locked_ms / 1000)
        self._note(f"c:{cpid}", now + count.client_locked_ms / 1000)
        lockout_s = self.settings.lockout_s
        if count.address_locked_at:
            self._observer.login_locked_out("address")
            log.warning(
                "login_locked_out",
                scope="address",
                address=address,
                failures=count.address_locked_at,
                lockout_s=lockout_s,
            )
        if count.client_locked_at:
            self._observer.login_locked_out("client")
            log.warning(
                "login_locked_out",
                scope="client",
                cpid=cpid,
                failures=count.client_locked_at,
                lockout_s=lockout_s,
            )

    def _note(self, key: str, until: float) -> None:
        if until > self._noted.get(key, 0.0):
            self._noted[key] = until
            _bound(self._noted, self._clock(), float)

    async def share(self) -> None:
        """Tell the shared counter which addresses logged in to which cpids (Redis)."""
        if self._local is not None:
            return
        now = self._clock()
        due = [
            login
            for login, last in self._logins.items()
            if (told := self._told.get(login)) is None
            or (last > told and now - told >= SHARE_EVERY_S)
        ]
        if not due:
            return
        await self._counter.remember(due, int(self._wall() * 1000), int(KNOWN_ADDRESS_S * 1000))
        for login in due:
            self._told[login] = now

    def tidy(self) -> None:
        """Forget notes and logins that no longer count."""
        now = self._clock()
        self._noted = {k: until for k, until in self._noted.items() if until > now}
        self._logins = {k: t for k, t in self._logins.items() if now - t < KNOWN_ADDRESS_S}
        self._told = {k: t for k, t in self._told.items() if k in self._logins}
        if self._local is not None:
            self._local.tidy()
