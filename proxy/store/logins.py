"""Failed logins counted where every daemon sharing a store sees them.

Only a shared store (Redis) counts them: one daemon alone on SQLite counts
them in its own memory (:mod:`proxy.login_throttle`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class LoginLimits(NamedTuple):
    """``[login]`` in the units a counter works in."""

    window_ms: int  # failures are counted over this, from the first
    lockout_ms: int
    max_per_address: int
    max_per_client: int


class LoginCount(NamedTuple):
    """What one failed login did to its address's and its cpid's counts."""

    address_locked_ms: int  # the address's lock-out has this long to run; 0: none
    client_locked_ms: int
    address_locked_at: int  # the failures that locked the address out just now; 0: none
    client_locked_at: int


class LoginLocks(NamedTuple):
    address_ms: int  # the address's lock-out has this long to run; 0: none
    client_ms: int  # the cpid's
    known: bool  # the address logged in to the cpid lately (any daemon)


class LoginCounter(Protocol):
    """Failed logins counted where every daemon sharing a store sees them."""

    async def count_failure(self, cpid: str, address: str, limits: LoginLimits) -> LoginCount:
        """Count one failed login against the address and the cpid, locking either
        out once it reaches its limit (a key already locked out counts no more)."""
        ...

    async def locks(self, cpid: str, address: str, known_since_ms: int) -> LoginLocks:
        """The lock-outs the address and the cpid are under, and whether the address
        logged in to the cpid since ``known_since_ms``."""
        ...

    async def remember(self, logins: Sequence[tuple[str, str]], now_ms: int, keep_ms: int) -> None:
        """These (cpid, address) logged in at ``now_ms``; forget them after ``keep_ms``."""
        ...
