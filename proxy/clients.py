"""Legacy client accounts: who may call, from where, how fast.

The password check compares ``cppwd`` (uppercase MD5 of the password) in
constant time.  A password changed through ``/ent/`` is kept in the store
and overrides the configured one, so it survives a restart.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from ipaddress import ip_address

from aiolimiter import AsyncLimiter

from adapters.esms100.wire import password_digest
from config.settings import ClientSettings
from proxy.store.base import Store


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

    async def change_password(self, client: Client, new_password: str) -> None:
        digest = password_digest(new_password)
        await self._store.set_password_digest(client.cpid, digest)
        client.digest = digest
