"""Legacy client accounts: who may call, from where, how fast.

The password check hashes the offered ``cppwd`` (uppercase MD5 of the
password) with a salt and compares in constant time (:mod:`proxy.passwords`),
behind the lock-outs of :mod:`proxy.login_throttle`.  A password changed
through ``/ent/`` is kept in the store, salted, and overrides the configured
one, so it survives a restart; an operator's reset
(:meth:`ClientBook.reset_password`) drops it, and the configured one works
again.  Daemons that share a store see each other's changes: a password
that does not match is looked up again in the store (a new one, or a reset,
works at once on every daemon), and every :data:`REFRESH_S` all are (the
old one stops working soon).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

import structlog

from adapters.esms100.wire import password_digest
from config.settings import ClientSettings, Settings
from core.busy import StoreBusy
from proxy.login_throttle import LoginObserver, LoginThrottle
from proxy.loops import Loop
from proxy.passwords import PasswordCheck, is_plain
from proxy.rate_limits import RateLimits
from proxy.store.base import Store
from routing.limits import RateLimiter

log = structlog.get_logger("smsproxy.clients")

REFRESH_S = 5.0


class PasswordChangeUnknown(Exception):
    """The store neither confirmed nor denied a new password (``-110``: not ``-1``,
    which would tell the client its old password stands)."""


@dataclass
class Client:
    settings: ClientSettings
    configured: PasswordCheck  # the password in the config
    check: PasswordCheck  # the one that works now
    limiter: RateLimiter  # its requests in any one-second window
    stored: str | None = None  # the store's /ent/ password ``check`` comes from; None: configured

    @property
    def cpid(self) -> str:
        return self.settings.cpid

    def __repr__(self) -> str:
        origin = "configured" if self.stored is None else "changed"
        return f"<Client {self.cpid} rate={self.settings.rate_per_s}/s password={origin}>"

    def allows_ip(self, remote: str | None) -> bool:
        networks = self.settings.allowed_ips
        if not networks:
            return True
        try:
            address = ip_address(remote or "")
        except ValueError:
            return False
        return any(address in net for net in networks)

    async def take_request(self) -> bool:
        """Count one request against the client's rate; False, at once, when it is over."""
        return await self.limiter.try_acquire() == 0.0


class ClientBook:
    def __init__(self, clients: list[Client], store: Store, throttle: LoginThrottle) -> None:
        self._clients = {c.cpid: c for c in clients}
        self._store = store
        self.throttle = throttle
        # What an unknown cpid's cppwd is checked against: as costly, matching nothing.
        self._nobody = PasswordCheck.unmatchable()

    @classmethod
    async def load(
        cls,
        settings: Settings,
        store: Store,
        observer: LoginObserver,
        previous: ClientBook | None = None,
        limits: RateLimits | None = None,
    ) -> ClientBook:
        """The accounts of ``settings``, with the passwords changed in the store.

        A reload hands over the previous book's throttle: failures counted and
        lock-outs started stay, and so does a client's rate limiter (with the
        requests of its last second) while its rate is unchanged.
        """
        if previous is not None:
            throttle = previous.throttle
            throttle.configure(settings.login)
        else:
            throttle = LoginThrottle(settings.login, observer, store.logins)
        limits = limits if limits is not None else RateLimits()
        clients = []
        for s in settings.clients:
            configured = PasswordCheck.of_digest(password_digest(s.password.get_secret_value()))
            old = previous.client(s.cpid) if previous is not None else None
            if old is not None and old.settings.rate_per_s == s.rate_per_s:
                limiter = old.limiter
            else:
                limiter = limits.client(s.cpid, s.rate_per_s, old.limiter if old else None)
            clients.append(Client(s, configured, configured, limiter))
        book = cls(clients, store, throttle)
        await book.refresh()
        return book

    def __repr__(self) -> str:
        return f"<ClientBook {sorted(self._clients)} {self.throttle!r}>"

    def client(self, cpid: str) -> Client | None:
        return self._clients.get(cpid)

    def authenticate(self, cpid: str, cppwd: str, remote: str | None) -> Client | None:
        """The password check alone: no lock-outs, no second look in the store."""
        client = self._clients.get(cpid)
        ok = (client.check if client is not None else self._nobody).matches(cppwd)
        if client is None or not ok or not client.allows_ip(remote):
            return None
        return client

    async def verify(self, cpid: str, cppwd: str, remote: str | None) -> Client | None:
        """The client ``cpid``, when ``cppwd`` is its password and ``remote`` may call.

        Raises :class:`~proxy.login_throttle.LockedOut`, without looking at
        the password, while the address or the cpid is locked out.  A password
        that does not match is looked up again in the store before it counts
        as a failure.
        """
        address = remote or ""
        throttle = self.throttle
        if throttle.watching(cpid, address):
            await throttle.admit(cpid, address)
        client = self.authenticate(cpid, cppwd, remote)
        if client is None:
            client = await self._look_again(cpid, cppwd, remote)
        if client is None:
            await throttle.failed(cpid, address)
            return None
        throttle.succeeded(cpid, address)
        return client

    async def _look_again(self, cpid: str, cppwd: str, remote: str | None) -> Client | None:
        # Unknown cpids are looked up too, so timing does not tell them apart.
        try:
            stored = await self._store.passwords.password_digest(cpid)
        except Exception:  # a store away answers -1, as the password known here says
            log.warning("password_lookup_failed", exc_info=True)
            return None
        known = self._clients.get(cpid)
        if known is None or stored == known.stored:
            return None
        self._adopt(known, stored)
        return self.authenticate(cpid, cppwd, remote)

    def _adopt(self, client: Client, stored: str | None) -> None:
        """Check ``client``'s logins against what the store holds (None: the config)."""
        if stored is None:
            client.check, client.stored = client.configured, None
            return
        check = PasswordCheck.of_stored(stored)
        if check is None:
            # Nobody logs in until an operator resets it; never the value itself.
            log.error("stored_password_unreadable", client=client.cpid)
            check = PasswordCheck.unmatchable()
        client.check, client.stored = check, stored

    async def refresh(self) -> None:
        """Take up passwords another daemon changed or reset in the shared store.

        A password stored before salting (the cppwd itself) is replaced by its
        salted form here, unless it changed meanwhile.
        """
        for client in self._clients.values():
            stored = await self._store.passwords.password_digest(client.cpid)
            if stored is not None and is_plain(stored):
                salted = PasswordCheck.of_digest(stored).stored()
                if await self._store.passwords.replace_password_digest(client.cpid, stored, salted):
                    log.info("stored_password_salted", client=client.cpid)
                    stored = salted
            if stored != client.stored:
                self._adopt(client, stored)

    def refresher(self, every_s: float = REFRESH_S) -> Loop:
        """The loop that refreshes passwords and shares the login throttle's counts."""

        async def refresh_and_share() -> None:
            # The store may be away for a while: the loop tries again later.
            try:
                await self.refresh()
                await self.throttle.share()
            finally:
                self.throttle.tidy()

        return Loop("client-passwords", refresh_and_share, every_s=every_s, first_s=every_s)

    async def change_password(self, client: Client, new_password: str) -> None:
        check = PasswordCheck.of_digest(password_digest(new_password))
        stored = check.stored()
        passwords = self._store.passwords
        try:
            await passwords.set_password_digest(client.cpid, stored)
        except StoreBusy as exc:
            if not exc.may_have_run:
                raise  # surely not made: refused, the old password stands
            # Made or not: then the other daemons take the new password, and a
            # client told -1 (refused) would keep the old one until it is
            # locked out.  Setting it is idempotent: once more.
            try:
                await passwords.set_password_digest(client.cpid, stored)
            except Exception as again:
                raise PasswordChangeUnknown(client.cpid) from again
        client.check, client.stored = check, stored

    async def reset_password(self, cpid: str) -> bool | None:
        """Drop the client's /ent/ password, so the configured one works again.

        On this daemon at once; on others sharing the store at their next
        refresh, or at once when the client logs in there with the configured
        one.  True when an /ent/ password was dropped, False when the
        configured one was in use already, None for an unknown cpid.
        """
        client = self._clients.get(cpid)
        if client is None:
            return None
        dropped = await self._store.passwords.drop_password_digest(cpid)
        self._adopt(client, None)
        log.info("password_reset", client=cpid, dropped=dropped)
        return dropped
