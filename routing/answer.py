"""One esms100 code for the legacy client, from what happened to its recipients.

``0`` when every recipient was accepted by some vendor.  Otherwise the
outcome that ended the most telling recipient decides, in this order: an
invalid number (``-16``: sending again will not help), content refused by
every vendor (``-11``), no money anywhere (``-10``), vendors asking us to
slow down (``-15``), a bad request we built (``-110``: our bug) or a
request the vendors refused outright (``-110`` too: a wrong ``base_url`` or
certificate, a configuration fault of ours), and everything else — busy,
unreachable, no answer, deadline — ``-17``.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.outcome import Outcome

_PRIORITY: tuple[tuple[Outcome, int], ...] = (
    (Outcome.RECIPIENT_INVALID, -16),
    (Outcome.CONTENT_REJECTED, -11),
    (Outcome.BALANCE_EXHAUSTED, -10),
    (Outcome.RATE_LIMITED, -15),
    (Outcome.REQUEST_INVALID, -110),
    (Outcome.REFUSED, -110),
)

NO_VENDOR = -17


def legacy_code(failed: Iterable[Outcome]) -> int:
    outcomes = set(failed)
    if not outcomes:
        return 0
    for outcome, code in _PRIORITY:
        if outcome in outcomes:
            return code
    return NO_VENDOR
