"""Quotas: the segments each client used, against its configured ``quota``."""

from __future__ import annotations

from typing import Protocol


class Quotas(Protocol):
    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        """Add to the client's usage unless that would pass ``limit``."""
        ...

    async def release_quota(self, cpid: str, segments: int) -> None: ...

    async def quota_used(self, cpid: str) -> int: ...
