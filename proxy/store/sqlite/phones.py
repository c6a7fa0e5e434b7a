"""How the send log stores a number: an integer in ``send_to``, four bits a digit in a chunk.

Every number a send has is a mainland mobile number, 11 ASCII digits not
starting with 0 (:mod:`proxy.numbers`).  As TEXT such a number costs 12
bytes in ``send_to`` and 14 in a chunk's JSON array; as an integer 7, and
as packed decimal digits 5.5 (schema version 3).  Both encodings are exact
for such a number, and only such a number takes them: any other string the
store is given (a leading zero, a ``+``, letters, another length) stays TEXT,
which ``send_to.phone`` (declared without a type) keeps as it is, and its
chunk keeps the JSON array of its strings (as in version 2).  Both sides of
every comparison go through :func:`stored`, so a number is found however it
was stored.

A packed chunk's ``phones`` is a BLOB whose hex() is its numbers' digits
one after another (a last ``0`` pads an odd count): the ``send_records``
view decodes it in SQL, for an operator's ``sqlite3``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

DIGITS = 11  # of a number stored as an integer


class Packed(NamedTuple):
    """A chunk's numbers: its ``phones`` column, and what ``send_to`` holds for each."""

    column: bytes | str
    stored: str  # a JSON array of stored() values, in key order


def stored(phone: str) -> int | str:
    """What ``send_to`` holds for ``phone``, and what a look-up by it compares with."""
    if len(phone) == DIGITS and phone.isascii() and phone.isdigit() and phone[0] != "0":
        return int(phone)
    return phone


def phone_of(value: int | str) -> str:
    """The number ``send_to`` holds as ``value``."""
    return value if isinstance(value, str) else str(value)


def stored_json(phones: Sequence[str]) -> str:
    """The JSON array of :func:`stored` values of ``phones``."""
    joined = _joined_if_packable(phones)
    if joined is not None:
        return f"[{joined}]"
    return json.dumps([stored(p) for p in phones])


def pack(phones: Sequence[str]) -> Packed:
    """A chunk's numbers for its row and its ``send_to`` rows.

    For a send's thousand numbers, a few passes over them in C (about 30 µs)
    rather than a test a number.
    """
    joined = _joined_if_packable(phones)
    if joined is None:
        return Packed(json.dumps(list(phones)), json.dumps([stored(p) for p in phones]))
    digits = joined.replace(",", "")
    if len(phones) % 2:
        digits += "0"
    return Packed(bytes.fromhex(digits), f"[{joined}]")


def unpack(column: bytes | str) -> list[str]:
    """A chunk's numbers, in key order, from its ``phones`` column."""
    if isinstance(column, str):
        return list(json.loads(column))
    digits = column.hex()
    count = len(digits) // DIGITS
    return [digits[i : i + DIGITS] for i in range(0, count * DIGITS, DIGITS)]


def cut(column: bytes | str, start: int, stop: int | None) -> bytes | str:
    """The ``phones`` column of the chunk's numbers ``start`` to ``stop``."""
    return pack(unpack(column)[start:stop]).column


def _joined_if_packable(phones: Sequence[str]) -> str | None:
    """``phones`` joined by commas when each is 11 ASCII digits not starting with 0."""
    if not phones:
        return None
    joined = ",".join(phones)
    width = DIGITS + 1
    if (
        len(joined) != width * len(phones) - 1
        or joined.count(",") != len(phones) - 1
        or joined[DIGITS::width] != "," * (len(phones) - 1)
        or "0" in joined[::width]
        or joined.encode().translate(None, b"0123456789,")
    ):
        return None
    return joined
