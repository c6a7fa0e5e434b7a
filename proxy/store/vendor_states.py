"""Vendor states: what each daemon learnt of a vendor, for every daemon sharing the store.

A vendor's record has three parts, each written apart with a version of its
own (one counter for the store, so a later write always has the higher
number): what was *learned* from outcomes and balance checks (drained,
backed off, ejected, routable again), the operator's *hold* (drained or
enabled through the admin API) and the *balance* the last check found (one
daemon checks for all: :mod:`proxy.balance`).  Each write is also announced at once to
every daemon following the store (:meth:`VendorStates.follow`); a daemon
that starts, or lost the announcements for a while, reads the records
(:meth:`VendorStates.read`) and takes what has a newer version than it has.

"Until" is kept on the store's clock and handed out as seconds left, so
daemons' clocks need not agree.  Only a store several daemons share has
this role (Redis); alone on SQLite a daemon keeps what it learns in memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

from routing.knowledge import Learned, Seen


@dataclass(frozen=True, slots=True)
class SharedLearned:
    learned: Learned  # left_s: from when the record was read or announced
    version: int
    seen: Seen


@dataclass(frozen=True, slots=True)
class SharedHold:
    held: bool
    version: int
    seen: Seen


@dataclass(frozen=True, slots=True)
class SharedBalance:
    segments: int
    version: int
    seen: Seen  # the daemon that checked it, when


@dataclass(frozen=True, slots=True)
class VendorRecord:
    vendor: str
    learned: SharedLearned | None  # None: nothing learnt yet
    hold: SharedHold | None  # None: no operator has drained or enabled it
    balance: SharedBalance | None = None  # None: no balance check yet


class VendorStates(Protocol):
    async def share(
        self,
        vendor: str,
        daemon: str,
        learned: Learned | None,
        held: bool | None,
        balance: int | None = None,
    ) -> VendorRecord:
        """Write the parts given (None: leave that part) and announce the record.
        A balance figure is not kept in the history :meth:`recent` reads: it comes
        every check."""
        ...

    async def read(self, vendors: Sequence[str]) -> list[VendorRecord]:
        """The records of ``vendors`` that exist."""
        ...

    def follow(self) -> AsyncGenerator[VendorRecord | None, None]:
        """None once following, then each record as it is announced, until the
        connection drops (then it raises).  After the None, the follower reads the
        records: what was written before it followed."""
        ...

    async def recent(self, vendor: str, count: int) -> list[dict[str, object]]:
        """The last ``count`` writes of ``vendor``'s record, newest first: which daemon
        saw what, and when."""
        ...
