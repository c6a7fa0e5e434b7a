"""The state store: everything several daemons would have to share.

Two engines (SQLite here; Redis to scale out), each one object the daemon
opens and closes (:func:`proxy.store.open.open_store`), made of one part a
role, each typed by a small protocol of its own module:

- ``store.sends``: the send log (:mod:`proxy.store.sends`);
- ``store.claims``: recipients a retry must not send again (:mod:`proxy.store.claims`);
- ``store.inbox``: reports and replies as the vendors gave them (:mod:`proxy.store.inbox`);
- ``store.settlement``: inbox rows matched to clients (:mod:`proxy.store.settlement`);
- ``store.queues``: what each client has yet to fetch (:mod:`proxy.store.queues`);
- ``store.passwords``: passwords set through ``/ent/`` (:mod:`proxy.store.passwords`);
- ``store.quotas``: the segments each client used (:mod:`proxy.store.quotas`);
- ``store.logins``: failed logins, where daemons share them (:mod:`proxy.store.logins`);
- ``store.leases``: one poller a vendor account (:mod:`proxy.store.leases`);
- ``store.vendor_states``: what daemons learn of vendors, where daemons share it
  (:mod:`proxy.store.vendor_states`).

The parts of one store share its connection (SQLite's writer thread,
:mod:`proxy.store.sqlite`; the Redis client and key prefix,
:mod:`proxy.store.redis`).  Every method is one atomic operation, so callers
never hold a transaction open across an ``await``.  One contract suite a
role (``tests/store/``) runs against both engines.
"""

from __future__ import annotations

from typing import Protocol

from proxy.store.claims import RecipientClaims
from proxy.store.inbox import Inbox
from proxy.store.leases import Leases
from proxy.store.logins import LoginCounter
from proxy.store.passwords import Passwords
from proxy.store.queues import ClientQueues
from proxy.store.quotas import Quotas
from proxy.store.sends import SendLog
from proxy.store.settlement import Settlement
from proxy.store.vendor_states import VendorStates


class StoreUnavailable(RuntimeError):
    """The store could not be opened: the message says why, never a password."""


class Store(Protocol):
    @property
    def sends(self) -> SendLog: ...

    @property
    def claims(self) -> RecipientClaims: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def settlement(self) -> Settlement: ...

    @property
    def queues(self) -> ClientQueues: ...

    @property
    def passwords(self) -> Passwords: ...

    @property
    def quotas(self) -> Quotas: ...

    @property
    def logins(self) -> LoginCounter | None:
        """Where failed logins are counted for every daemon sharing this store; None
        when one daemon uses it (SQLite), which counts them in its own memory."""
        ...

    @property
    def leases(self) -> Leases: ...

    @property
    def vendor_states(self) -> VendorStates | None:
        """What each daemon learns of the vendors, for the others; None when one daemon
        uses the store (SQLite), which keeps what it learns in its own memory."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
