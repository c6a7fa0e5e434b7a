"""The store in one SQLite file: the default, needing nothing installed.

Every role works through one :class:`~proxy.store.sqlite.writer.SqliteWriter`
(one connection, one thread); the schema and its migrations are in
:mod:`proxy.store.sqlite.schema`.  All SQL of the project lives in this
package.
"""

from __future__ import annotations

from pathlib import Path

from proxy.store.sqlite.claims import SqliteClaims
from proxy.store.sqlite.inbox import SqliteInbox
from proxy.store.sqlite.leases import SqliteLeases
from proxy.store.sqlite.owner import StateFileOwner
from proxy.store.sqlite.passwords import SqlitePasswords
from proxy.store.sqlite.queues import SqliteQueues
from proxy.store.sqlite.quotas import SqliteQuotas
from proxy.store.sqlite.sends import SqliteSendLog
from proxy.store.sqlite.settlement import SqliteSettlement
from proxy.store.sqlite.wal_checkpoint import WalCheckpointer
from proxy.store.sqlite.writer import SqliteWriter


class SqliteStore:
    def __init__(self, writer: SqliteWriter, owner: StateFileOwner | None = None) -> None:
        self._writer = writer
        self._owner = owner
        self.quotas = SqliteQuotas(writer)
        self.sends = SqliteSendLog(writer, self.quotas)
        self.claims = SqliteClaims(writer, self.quotas)
        self.inbox = SqliteInbox(writer)
        self.settlement = SqliteSettlement(writer)
        self.queues = SqliteQueues(writer)
        self.passwords = SqlitePasswords(writer)
        # One daemon: it counts failed logins in its own memory.
        self.logins = None
        self.leases = SqliteLeases(writer)
        # One daemon: what it learns of vendors stays in its memory, as before.
        self.vendor_states = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path} open={self._writer.is_open}>"

    @classmethod
    async def open(
        cls, path: Path, checkpointer: WalCheckpointer | None = None, *, alone: bool = False
    ) -> SqliteStore:
        """``alone``: a daemon's, refused while another daemon has the file
        (:mod:`proxy.store.sqlite.owner`); tools and tests may open it beside one."""
        owner = StateFileOwner.take(path) if alone else None
        writer = SqliteWriter(path, checkpointer)
        try:
            await writer.open()
        except BaseException:
            if owner is not None:
                owner.release()
            raise
        return cls(writer, owner)

    @property
    def path(self) -> Path:
        return self._writer.path

    async def ping(self) -> bool:
        return await self._writer.ping()

    async def close(self) -> None:
        try:
            if self._writer.is_open:
                await self.quotas.flush()  # releases no send-log write carried
        finally:
            try:
                await self._writer.close()
            finally:
                if self._owner is not None:
                    self._owner.release()
