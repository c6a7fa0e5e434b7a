"""Leases: one holder at a time for work several daemons must not do twice.

A vendor account is polled by the holder of its lease (:mod:`proxy.ingest.lease`).
"""

from __future__ import annotations

from typing import Protocol


class Leases(Protocol):
    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Hold the lease ``name`` for ``ttl_ms`` from now: True when it was free,
        had expired, or was already ``holder``'s (then it is renewed)."""
        ...
