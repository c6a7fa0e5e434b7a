"""Times in the store: epoch milliseconds in it, aware UTC datetimes out of it.

The host's zone never enters: subtracting a naive time from :data:`EPOCH`
raises.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def to_ms(t: datetime) -> int:
    return (t - EPOCH) // MS


def from_ms(ms: str | int) -> datetime:
    return EPOCH + int(ms) * MS


def now_ms() -> int:
    return time.time_ns() // 1_000_000
