"""Legacy client accounts: who may call, from where, how fast.

The password check compares ``cppwd`` (uppercase MD5 of the password) in
constant time.  A password changed through ``/ent/`` is kept in the store
and overrides the configured one, so it survives a restart.  Daemons that
share a store see each other's changes: a password that does not match is
looked up again in the store (the new one works at once on every daemon),
and every :data:`REFRESH_S` all are (the old one stops working soon).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from ipaddress import ip_address

import structlog
from aiolimiter import AsyncLimiter

from adapters.esms100.wire import password_digest
from config.settings import ClientSettings
from proxy.store.base import Store

log = structlog.get_logger("smsproxy.clients")

REFRESH_S = 5.0


@dataclass
class Client:
    settings: ClientSettings
    digest: str  # the cppwd we expect
    limiter: AsyncLimiter

    @property
    def cpid(self) -> str:
        return self.settings.cpid

    def __repr__(self) -> str:
        return f"<Client {self.cpid} rate={self.settings.rate_per_s}/s>"

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
        if not self.limiter.has_capacity():
            return False
        # With capacity there, acquire() returns without suspending: no race.
        await self.limiter.acquire()
        return True


class ClientBook:
    def __init__(self, clients: list[Client], store: Store) -> None:
        self._clients = {c.cpid: c for c in clients}
        self._store = store

    @classmethod
    async def load(cls, settings: list[ClientSettings], store: Store) -> ClientBook:
        clients = []
        for s in settings:
            stored = await store.password_digest(s.cpid)
            digest = stored or password_digest(s.password.get_secret_value())
            clients.append(Client(s, digest, AsyncLimiter(s.rate_per_s, 1.0)))
        return cls(clients, store)

    def __repr__(self) -> str:
        return f"<ClientBook {sorted(self._clients)}>"

    def authenticate(self, cpid: str, cppwd: str, remote: str | None) -> Client | None:
        client = self._clients.get(cpid)
        expected = client.digest if client else password_digest("\x00never")
        ok = hmac.compare_digest(cppwd.upper().encode(), expected.encode())
        if client is None or not ok or not client.allows_ip(remote):
            return None
        return client

    async def verify(self, cpid: str, cppwd: str, remote: str | None) -> Client | None:
        """:meth:`authenticate`, looking the password up again when it does not match."""
        client = self.authenticate(cpid, cppwd, remote)
        if client is None:
            # Unknown cpids are looked up too, so timing does not tell them apart.
            try:
                stored = await self._store.password_digest(cpid)
            except Exception:  # a store away answers -1, as the password known here says
                log.warning("password_lookup_failed", exc_info=True)
                return None
            known = self._clients.get(cpid)
            if known is not None and stored is not None and stored != known.digest:
                known.digest = stored
                client = self.authenticate(cpid, cppwd, remote)
        return client

    async def refresh(self) -> None:
        """Take up passwords another daemon changed in the shared store."""
        for client in self._clients.values():
            stored = await self._store.password_digest(client.cpid)
            if stored is not None:
                client.digest = stored

    async def refresh_forever(self, every_s: float = REFRESH_S) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.refresh()
            except Exception:  # the store may be away for a while: try again later
                log.exception("password_refresh_failed")

    async def change_password(self, client: Client, new_password: str) -> None:
        digest = password_digest(new_password)
        await self._store.set_password_digest(client.cpid, digest)
        client.digest = digest
