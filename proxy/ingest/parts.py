"""Long replies arrive in parts; the client gets them joined (sans-io).

A part names its long message's reference, the number of parts and its
index (chuanglan's ``emshead``).  Parts of one reply share account, phone,
reference and total.  When all are in, they are joined in index order;
when the first of them has waited ``reply_part_wait_s`` and some are still
missing, what arrived is joined and delivered anyway: late words are better
than none.  A part that arrives after its reply was delivered waits, alone,
as long, and is then delivered as it is.  A part seen twice is used once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proxy.store.inbox import InboxReply


@dataclass(frozen=True, slots=True)
class Joined:
    rows: tuple[InboxReply, ...]  # every inbox row it settles, parts and their repeats
    text: str
    complete: bool

    @property
    def first(self) -> InboxReply:
        return self.rows[0]


def assemble(rows: Sequence[InboxReply], now_ms: int, wait_ms: int) -> list[Joined]:
    """The replies ready to deliver, in the order their first row arrived."""
    ready: list[Joined] = []
    groups: dict[tuple[str, str, str, int], list[InboxReply]] = {}
    for row in rows:
        if row.part_ref is None or row.part_total is None or row.part_index is None:
            ready.append(Joined((row,), row.text, True))
        else:
            key = (row.account, row.phone, row.part_ref, row.part_total)
            groups.setdefault(key, []).append(row)
    for (_, _, _, total), parts in groups.items():
        by_index: dict[int, InboxReply] = {}
        for part in sorted(parts, key=lambda p: p.id):
            by_index.setdefault(part.part_index or 0, part)
        complete = set(by_index) >= set(range(1, total + 1))
        waited = now_ms - min(p.received_ms for p in parts)
        if not complete and waited < wait_ms:
            continue
        text = "".join(by_index[i].text for i in sorted(by_index))
        ordered = sorted(parts, key=lambda p: p.id)
        ready.append(Joined(tuple(ordered), text, complete))
    ready.sort(key=lambda j: j.first.id)
    return ready
