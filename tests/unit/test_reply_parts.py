"""Long replies: parts joined in order, or delivered partial after the wait."""

from __future__ import annotations

from proxy.ingest.parts import assemble
from proxy.store.inbox import InboxReply

T = 1_700_000_000_000


def row(
    id_: int,
    text: str,
    part: tuple[str, int, int] | None = None,
    phone: str = "13800138000",
    received: int = T,
) -> InboxReply:
    ref, total, index = part if part else (None, None, None)
    return InboxReply("v", f"k{id_}", phone, text, None, "", ref, total, index, received, id=id_)


def test_whole_replies_are_ready_at_once() -> None:
    joined = assemble([row(1, "a"), row(2, "b")], T, 60_000)
    assert [(j.text, j.complete, [r.id for r in j.rows]) for j in joined] == [
        ("a", True, [1]),
        ("b", True, [2]),
    ]


def test_parts_wait_for_each_other_and_join_in_order() -> None:
    rows = [row(1, "C", ("r", 3, 3)), row(2, "A", ("r", 3, 1))]
    assert assemble(rows, T, 60_000) == []
    rows += [row(3, "B", ("r", 3, 2)), row(4, "A again", ("r", 3, 1))]
    [joined] = assemble(rows, T, 60_000)
    assert joined.text == "ABC" and joined.complete
    assert [r.id for r in joined.rows] == [1, 2, 3, 4]  # the repeat is settled with them


def test_parts_of_other_replies_and_numbers_stay_apart() -> None:
    rows = [
        row(1, "x1", ("r", 2, 1)),
        row(2, "y1", ("r", 2, 1), phone="13900139000"),
        row(3, "z2", ("s", 2, 2)),
        row(4, "x2", ("r", 2, 2)),
    ]
    [joined] = assemble(rows, T, 60_000)
    assert joined.text == "x1x2"


def test_a_reply_missing_parts_is_delivered_after_the_wait() -> None:
    rows = [row(1, "A", ("r", 3, 1), received=T), row(2, "C", ("r", 3, 3), received=T + 10)]
    assert assemble(rows, T + 59_999, 60_000) == []
    [joined] = assemble(rows, T + 60_000, 60_000)
    assert (joined.text, joined.complete) == ("AC", False)


def test_ready_replies_keep_arrival_order() -> None:
    rows = [row(1, "B", ("r", 2, 2)), row(2, "whole"), row(3, "A", ("r", 2, 1))]
    assert [j.text for j in assemble(rows, T, 60_000)] == ["AB", "whole"]
