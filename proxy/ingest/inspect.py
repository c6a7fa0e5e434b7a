"""What the inbox holds, and the reports that matched no send, for an operator.

``GET /reports/unmatched`` on the admin port (:mod:`proxy.admin`) answers
this as JSON: the inbox counts by kind and state (``reports.unmatched``
among them) and the newest unmatched reports, with the vendor's raw status,
to look into.  Numbers are shown masked (``138****8000``); the state file
has them whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

from proxy.store.base import Store

SHOWN = 100


def mask(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


async def unmatched(store: Store) -> dict[str, object]:
    # Counts first: a report the matcher gives up on in between is then in
    # the list too, never counted as unmatched and missing from it.
    counts = await store.inbox.inbox_counts()
    rows = await store.inbox.unmatched_reports(SHOWN)
    return {
        "counts": counts,
        "unmatched": [
            {
                "vendor": r.account,
                "phone": mask(r.phone),
                "message_id": r.message_id,
                "status": r.status,
                "raw_status": r.raw_status,
                "received": datetime.fromtimestamp(r.received_ms / 1000, UTC).isoformat(),
            }
            for r in rows
        ],
    }
