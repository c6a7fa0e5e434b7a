"""What fuzzing found, each pinned down by a test of its own.

A ``/mo/`` answer joins its records with ``||``; a reply whose text ended
in ``|`` made ``|||``, and a client splitting on ``||`` read the next
record as beginning with ``|``.  Found by a 100,000-case run (seed 6): a
reply the vendor simulator handed back, a random text that ended in ``|``,
made a ``/mo/`` answer the oracle could not read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.esms100 import wire
from adapters.esms100.wire import ReplyRecord
from tests.e2e.legacy_client import CHINA, parse_replies
from tests.fuzz.oracle import answer_code

WHEN = datetime(2026, 11, 28, 4, 42, tzinfo=UTC)


@pytest.mark.parametrize("text", ["ok|", "a|||", "|", "好的||"])
def test_a_reply_ending_in_a_bar_cannot_split_a_mo_record(text: str) -> None:
    records = [ReplyRecord(WHEN, "13800138000", text), ReplyRecord(WHEN, "13900139000", "next")]
    body = wire.encode_replies(records, CHINA)
    assert answer_code("mo", body) == 0, body
    read = parse_replies(body)  # as a legacy client reads it: split on "||", then "##"
    assert [r.phone for r in read] == ["13800138000", "13900139000"]
    assert read[0].text.replace("｜", "|") == text
