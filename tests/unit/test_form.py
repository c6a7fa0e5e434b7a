"""Form encoding against byte-by-byte definitions of what PHP's urlencode does."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from adapters.form import MalformedForm, parse_pairs, quote, unquote_bytes, urlencode

_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_HEX = frozenset(b"0123456789ABCDEFabcdef")


def quote_by_byte(value: str, charset: str) -> str:
    return "".join(
        chr(b) if b in _KEEP else "+" if b == 0x20 else f"%{b:02X}"
        for b in value.encode(charset, errors="replace")
    )


def unquote_by_byte(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == ord("%"):
            digits = raw[i + 1 : i + 3]
            if len(digits) < 2 or not set(digits) <= _HEX:
                raise MalformedForm("bad escape")
            out.append(int(digits, 16))
            i += 3
        else:
            out.append(0x20 if b == ord("+") else b)
            i += 1
    return bytes(out)


def outcome(fn: Callable[[bytes], bytes], raw: bytes) -> object:
    try:
        return fn(raw)
    except MalformedForm:
        return MalformedForm


CHARS = list("aZ0 ,-_.~+%&=中【😀\\é\ud800")
PIECES = [b"%", b"+", b"\\", b"x", b"A", b"f", b"G", b"2", b"C", b"0", b"\xe4", b",", b" "]
PIECES += [b"%2C", b"%2c", b"%41", b"%e4", b"%E4", b"\\x41", b"%%", b"%4", b"%g1"]


def test_quote_escapes_every_byte_but_letters_digits_and_dash_underscore_dot() -> None:
    rnd = random.Random(7)
    for _ in range(20_000):
        value = "".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 12)))
        for charset in ("utf-8", "gbk"):
            assert quote(value, charset) == quote_by_byte(value, charset), (value, charset)


def test_unquote_decodes_every_escape_and_refuses_a_broken_one() -> None:
    rnd = random.Random(8)
    for _ in range(50_000):
        raw = b"".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 10)))
        assert outcome(unquote_bytes, raw) == outcome(unquote_by_byte, raw), raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a+b%2Cc", b"a b,c"),
        (b"%E6%B5%8B%e8%af%95", "测试".encode()),
        (b"back\\slash%5C\\x41", b"back\\slash\\\\x41"),  # a backslash stays one
        (b"%", MalformedForm),
        (b"%4", MalformedForm),
        (b"%4G", MalformedForm),
        (b"ok%41%", MalformedForm),
    ],
)
def test_unquote_examples(raw: bytes, expected: object) -> None:
    assert outcome(unquote_bytes, raw) == expected


def test_parse_pairs_keeps_order_drops_broken_names_and_marks_broken_values() -> None:
    form = b"a=1&&b+c=x+y&%ZZ=dropped&d=%E4%B8%AD&e=%G1&f&=v"
    assert parse_pairs(form) == [
        (b"a", b"1"),
        (b"b c", b"x y"),
        (b"d", "中".encode()),
        (b"e", None),
        (b"f", b""),
        (b"", b"v"),
    ]


def test_urlencode_round_trips_through_parse_pairs() -> None:
    pairs = [("cpid", "10000"), ("msg", "【ACME】您好, a+b=c & 100%"), ("phone", "138,139")]
    encoded = urlencode(pairs).encode("ascii")
    assert parse_pairs(encoded) == [(k.encode(), v.encode()) for k, v in pairs]
