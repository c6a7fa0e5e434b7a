"""Vendor times on the wire carry no zone; ours never leave without one.

A wall-clock time read from a vendor is placed in that vendor's zone
(``timezone`` of its settings) at once, and a time we write for a vendor or
a legacy client is turned into the reader's zone first.  A naive datetime is
refused rather than read in the host's zone: the process's ``TZ`` must not
change what a time means.
"""

from __future__ import annotations

from datetime import datetime, tzinfo


def placed(wall: datetime, zone: tzinfo) -> datetime:
    """A wall-clock time read off the wire, as the instant it names in ``zone``."""
    return wall.replace(tzinfo=zone)


def wall(t: datetime, zone: tzinfo) -> datetime:
    """``t`` as the clock in ``zone`` shows it, to be formatted for a reader there."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"a naive time has no meaning in {zone}: {t.isoformat()}")
    return t.astimezone(zone)
