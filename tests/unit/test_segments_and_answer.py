from __future__ import annotations

import pytest

from core.outcome import Outcome
from core.send import segments, split_chunks
from routing.answer import legacy_code


@pytest.mark.parametrize(
    ("chars", "expected"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_segments(chars: int, expected: int) -> None:
    assert segments("字" * chars) == expected


def test_split_chunks_keeps_order() -> None:
    assert list(split_chunks(["1", "2", "3", "4", "5"], 2)) == [("1", "2"), ("3", "4"), ("5",)]


@pytest.mark.parametrize(
    ("failed", "code"),
    [
        ([], 0),
        ([Outcome.BALANCE_EXHAUSTED], -10),
        ([Outcome.BALANCE_EXHAUSTED, Outcome.RECIPIENT_INVALID], -16),
        ([Outcome.CONTENT_REJECTED, Outcome.UNREACHABLE], -11),
        ([Outcome.RATE_LIMITED], -15),
        ([Outcome.UNREACHABLE, Outcome.AMBIGUOUS], -17),
        ([Outcome.VENDOR_BUSY], -17),
        ([Outcome.IP_REJECTED], -17),
        ([Outcome.REQUEST_INVALID], -110),
        ([Outcome.REFUSED], -110),
        ([Outcome.REFUSED, Outcome.VENDOR_BUSY], -110),
    ],
)
def test_legacy_code(failed: list[Outcome], code: int) -> None:
    assert legacy_code(failed) == code
