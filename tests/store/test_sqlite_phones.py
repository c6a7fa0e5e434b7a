"""How the SQLite send log stores numbers: exactly, and in as few bytes as a mobile number needs."""

from __future__ import annotations

import json
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from proxy.store.sends import RecordState, SendChunk
from proxy.store.sqlite import phones
from proxy.store.sqlite.store import SqliteStore
from tests.store.contract import T0
from tests.store.test_sends import ODD_NUMBERS

INTEGERS = ["13800138000", "99999999999", "10000000000"]
OTHERS = [
    *ODD_NUMBERS[1:],
    "1" * 18,
    "1" * 5000,  # more digits than int() takes
    "13800138000,13800138001",
    "1380013800,",  # 11 characters, a comma among them
    "[13800138000]",
    "-3800138000",
    "1380013800٣",  # an Arabic-Indic digit
    "1_380013800",
    "true",
]


def test_only_an_11_digit_number_not_starting_with_0_is_stored_as_an_integer() -> None:
    for number in INTEGERS:
        assert phones.stored(number) == int(number)
    for odd in OTHERS:
        assert phones.stored(odd) == odd, odd
    for shape in INTEGERS + OTHERS:
        assert phones.phone_of(phones.stored(shape)) == shape


@pytest.mark.parametrize("odd", [None, *OTHERS])
def test_a_chunk_packs_and_unpacks_to_its_numbers(odd: str | None) -> None:
    """The send path's fast way agrees with the rule a number at a time."""
    rng = random.Random(odd)
    count = rng.randrange(1, 8)
    numbers = [str(rng.randrange(13_000_000_000, 20_000_000_000)) for _ in range(count)]
    if odd is not None:
        numbers[rng.randrange(count)] = odd
    packed = phones.pack(numbers)
    assert json.loads(packed.stored) == [phones.stored(p) for p in numbers]
    assert phones.unpack(packed.column) == numbers
    assert isinstance(packed.column, bytes) == (odd is None)
    for start in range(count + 1):
        assert phones.unpack(phones.cut(packed.column, start, None)) == numbers[start:]
        assert phones.unpack(phones.cut(packed.column, 0, start)) == numbers[:start]


def test_a_thousand_mobile_numbers_take_5500_bytes_packed() -> None:
    numbers = [str(13_800_138_000 + i * 7) for i in range(1000)]
    packed = phones.pack(numbers)
    assert packed.column == bytes.fromhex("".join(numbers))
    assert len(packed.column) == 5500
    assert packed.stored == "[" + ",".join(numbers) + "]"


async def test_the_send_records_view_shows_every_number_as_given(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = await SqliteStore.open(path)
    odd_count = ["13800138000", "13800138001", "13800138002"]  # a pad nibble
    even_count = ["13900139000", "13900139001"]
    chunks = [odd_count, ODD_NUMBERS, even_count, ["15000150000"]]
    try:
        first = await store.sends.record_sends(
            [
                SendChunk("s", "acme", "v1", tuple(c), RecordState.IN_FLIGHT, "", None, "d", 1, T0)
                for c in chunks
            ]
        )
    finally:
        await store.close()
    everything = [p for c in chunks for p in c]
    with closing(sqlite3.connect(path)) as db:
        shown = db.execute("SELECT id, phone FROM send_records ORDER BY id").fetchall()
        assert shown == [(first + i, p) for i, p in enumerate(everything)]
        # Mobile numbers as integers, any other as given; only a chunk of
        # mobile numbers packed.
        kinds = dict(db.execute("SELECT key, typeof(phone) FROM send_to").fetchall())
        assert kinds == {
            first + i: "integer" if phones.stored(p) != p else "text"
            for i, p in enumerate(everything)
        }
        columns = db.execute("SELECT typeof(phones), length(phones) FROM send_chunks ORDER BY id")
        odd = ("text", len(json.dumps(ODD_NUMBERS)))
        assert columns.fetchall() == [("blob", 17), odd, ("blob", 11), ("blob", 6)]
