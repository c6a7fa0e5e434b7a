"""Odd field values: texts, numbers, passwords, and the ways a client writes them.

A value is made as the string a client meant and then written as bytes
(UTF-8 or GBK, percent-encoded or raw, or with a broken escape).  What the
daemon should read back from those bytes is the value's *meaning*, judged
by the rules ``esms100.txt`` and :mod:`adapters.esms100.wire` document: a
value that is valid UTF-8 is read as UTF-8, else as GBK (GB18030); a broken
escape, or bytes valid in neither, make it unreadable.
"""

from __future__ import annotations

import itertools
import random
import re
import string
from binascii import hexlify
from typing import Final

# A meaning: the string the daemon reads, or one of these.
UNREADABLE: Final = "\x00unreadable"
UNSURE: Final = "\x00unsure"  # the case cannot tell (duplicates, odd names, odd bodies)
MISSING: Final = "\x00missing"

# Bytes a form value must escape to stay one value (and one request line).
_SPECIAL_RUNS = re.compile(rb"([&=%+#?\x00-\x20\x7f]+)")
# What PHP's urlencode keeps (and the comma, as clients write phone lists).
_ESCAPE_RUNS = re.compile(rb"([^A-Za-z0-9\-_.,]+)")

_POOLS: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E),  # ASCII
    (0x4E00, 0x9FA5),  # CJK, all of them in GBK
    (0x3000, 0x303F),  # CJK punctuation, the ideographic space among them
    (0xFF01, 0xFF5E),  # full-width forms
    (0x0000, 0x001F),  # C0 controls
    (0x0080, 0x00FF),  # C1 controls and Latin-1
    (0x0300, 0x036F),  # combining marks
    (0x0600, 0x06FF),  # Arabic, right to left
    (0x200B, 0x200F),  # zero-width and direction marks
    (0xE000, 0xE0FF),  # private use
    (0x1F600, 0x1F64F),  # emoji, beyond the BMP (GB18030 has them, GBK does not)
    (0xFEFF, 0xFEFF),  # BOM
)
_CUM_WEIGHTS = tuple(itertools.accumulate((30, 30, 5, 5, 3, 3, 2, 2, 2, 1, 3, 1)))
_CHINESE_PUNCTUATION = "，。！？【】《》：“”；、"


def random_text(rng: random.Random, length: int) -> str:
    pools = rng.choices(_POOLS, cum_weights=_CUM_WEIGHTS, k=length)
    out = []
    for low, high in pools:
        if rng.random() < 0.05:
            out.append(_CHINESE_PUNCTUATION[int(rng.random() * len(_CHINESE_PUNCTUATION))])
        else:
            out.append(chr(low + int(rng.random() * (high - low + 1))))
    return "".join(out)


def ascii_word(rng: random.Random, low: int = 1, high: int = 12) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(low, high)))


def meaning_of(raw: bytes) -> str:
    """What the daemon reads from a value's bytes once percent-decoded (wire.py's rules)."""
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            return UNREADABLE
    if raw.isascii() or max(text) >= "\u0800":
        return text
    try:
        raw.decode("gb2312")
    except UnicodeDecodeError:
        return text
    # Two-byte UTF-8 that is GB2312 too: GB2312 unless the form says
    # encode=utf8, which this value's case does not know.
    return UNSURE


def percent(raw: bytes, rng: random.Random, every: bool = False) -> bytes:
    """Percent-encode as PHP and Java do; sometimes every byte, sometimes lower-case hex."""
    lower = rng.random() < 0.2
    if every:
        return _escaped(raw, lower)
    # Runs to keep and runs to escape, each escaped run in one C call: a huge
    # value byte by byte in Python would hold up every connection in flight.
    pieces = _ESCAPE_RUNS.split(raw)
    pieces[1::2] = [_escaped(run, lower).replace(b"%20", b"+") for run in pieces[1::2]]
    return b"".join(pieces)


def raw_8bit(raw: bytes) -> bytes:
    """Bytes above 0x7F written as they are, as older GBK clients do; the rest escaped."""
    pieces = _SPECIAL_RUNS.split(raw)
    pieces[1::2] = [_escaped(run, lower=False) for run in pieces[1::2]]
    return b"".join(pieces)


def _escaped(run: bytes, lower: bool) -> bytes:
    if not run:
        return run
    hexed = b"%" + hexlify(run, b"%")
    return hexed if lower else hexed.upper()


def broken_escape(rng: random.Random, written: bytes) -> bytes:
    """A ``%`` not followed by two hex digits, somewhere in the value."""
    bad = rng.choice([b"%G1", b"%", b"%4", b"%zz", b"%%", b"%4g", b"%\xff1"])
    at = rng.randint(0, len(written))
    if bad in (b"%", b"%4") and at < len(written):
        bad += b"Q"  # the next byte must not complete the escape
    return written[:at] + bad + written[at:]


def write_value(rng: random.Random, text: str, in_url: bool) -> tuple[bytes, str]:
    """``text`` as a client might write it, and what the daemon should read from it."""
    charset = rng.choice(["utf-8", "utf-8", "gb18030"])
    raw = text.encode(charset)  # GB18030 has every character but a lone surrogate
    meaning = meaning_of(raw)
    style = rng.random()
    if style < 0.08:
        return broken_escape(rng, percent(raw, rng)), UNREADABLE
    if style < 0.25 and not raw.isascii():
        # Raw 8-bit bytes: the daemon reads them as if percent-encoded.
        return raw_8bit(raw), meaning
    if style < 0.30:
        return percent(raw, rng, every=True), meaning
    if style < 0.33 and not in_url:
        # Junk bytes in a body: what the daemon reads depends on which are valid.
        junk = bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 6)))
        return raw_8bit(raw + junk), meaning_of(raw + junk)
    return percent(raw, rng), meaning


def mobile(rng: random.Random) -> str:
    return f"1{3 + int(rng.random() * 7)}{int(rng.random() * 10**9):09d}"


_FULL_WIDTH = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)})
_OTHER_DIGITS = (0x0660, 0x0966, 0x09E6, 0x1D7CE)  # Arabic-Indic, Devanagari, Bengali, math


def decorated_mobile(rng: random.Random) -> str:
    """A valid number as clients really write it: prefixes, full-width digits, dashes."""
    number = mobile(rng)
    roll = rng.random()
    if roll < 0.15:
        number = rng.choice(["+86", "0086", "86"]) + number
    elif roll < 0.25:
        number = number.translate(_FULL_WIDTH)
    elif roll < 0.30:
        number = f"{number[:3]}-{number[3:7]}-{number[7:]}"
    return number


def invalid_number(rng: random.Random) -> str:
    roll = rng.randint(0, 7)
    number = mobile(rng)
    if roll == 0:
        return number[:-1]
    if roll == 1:
        return number + rng.choice("0123456789")
    if roll == 2:
        return "12" + number[2:]
    if roll == 3:
        zero = rng.choice(_OTHER_DIGITS)
        return "".join(chr(zero + int(d)) for d in number)
    if roll == 4:
        return ascii_word(rng, 3, 11)
    if roll == 5:
        return random_text(rng, rng.randint(1, 8)).replace(",", "")
    if roll == 6:
        return "+1" + number
    return "0" + number[1:]


SEPARATORS = (",", ",", ",", "，", ";", "；", " ", ", ", "\t", "\n")


def join_numbers(rng: random.Random, numbers: list[str]) -> str:
    sep = rng.choice(SEPARATORS)
    joined = sep.join(numbers)
    if rng.random() < 0.2:
        joined += rng.choice([",", ",,", "，", " "])
    if rng.random() < 0.1:
        joined = rng.choice([",", " "]) + joined
    return joined


def is_acceptable_password(value: str) -> bool:
    """Whether /ent/ might take it as a new password, under any ``login.min_password_chars``."""
    return 1 <= len(value) <= 20 and all("\x21" <= c <= "\x7e" for c in value)
