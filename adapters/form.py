"""``application/x-www-form-urlencoded`` in any charset, strictly.

Vendors and legacy clients percent-encode text in GBK or UTF-8 the way PHP's
``urlencode`` and Java's ``URLEncoder`` do: every byte outside
``A-Za-z0-9-_.`` as ``%XX``, space as ``+``.  The standard library decodes
only UTF-8 leniently; we need the raw bytes of each value, decoded later in
the charset the request declares, and we need to know when a ``%`` is not
followed by two hex digits.
"""

from __future__ import annotations

import re
from binascii import hexlify
from codecs import escape_decode
from collections.abc import Iterable

# Bytes a form value keeps as they are; space becomes "+", every other byte %XX.
# These run on every send (a text both ways, up to 1000 numbers), so no loop
# goes byte by byte in Python: a text is split into runs of bytes to escape
# and runs to keep (a Chinese text is a few runs), each escaped run hexed in
# one call, and the comma between numbers, the one escape that comes by the
# thousand, is done by bytes.replace.
_PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_., "
_ESCAPED_RUNS = re.compile(rb"([^A-Za-z0-9\-_. ,]+)")
_PERCENT, _PLUS, _BACKSLASH = b"%+\\"


FORM = "application/x-www-form-urlencoded"


class MalformedForm(ValueError):
    pass


def quote(value: str, charset: str = "utf-8") -> str:
    if value.isascii() and value.isalnum():  # names, numbers, digests: the same in any charset
        return value
    raw = value.encode(charset, errors="replace")
    if raw.translate(None, _PLAIN):  # something beyond letters, digits, "-_.", comma, space
        pieces = _ESCAPED_RUNS.split(raw)  # kept, escaped, kept, ..., kept
        pieces[1::2] = [b"%" + hexlify(run, b"%").upper() for run in pieces[1::2]]
        raw = b"".join(pieces)
    return raw.replace(b",", b"%2C").replace(b" ", b"+").decode("ascii")


def urlencode(pairs: Iterable[tuple[str, str]], charset: str = "utf-8") -> str:
    return "&".join(f"{quote(k, charset)}={quote(v, charset)}" for k, v in pairs)


def unquote_bytes(raw: bytes) -> bytes:
    """Percent-decode; raise :class:`MalformedForm` on a broken escape."""
    # Bytes are tested for one byte by its value: ``b"%" in raw`` first tries
    # the needle as an int and pays for a TypeError, seven times slower.
    if _PLUS in raw:
        raw = raw.replace(b"+", b" ")
    if _PERCENT not in raw:
        return raw
    # Every %XX becomes \xXX for the C escape decoder, after doubling the
    # backslashes already there so that they stay what they are: one call
    # instead of a Python callback per run of escapes (a Chinese text is a
    # dozen escapes or more), and the decoder refuses a \x not followed by
    # two hex digits, which is exactly a broken %-escape.
    if _BACKSLASH in raw:
        raw = raw.replace(b"\\", b"\\\\")
    try:
        return escape_decode(raw.replace(b"%", b"\\x"))[0]
    except ValueError:
        raise MalformedForm("bad escape") from None


def parse_pairs(raw: bytes) -> list[tuple[bytes, bytes | None]]:
    """Split a form into (name, raw value) pairs; a value is None when its escapes are broken.

    A broken name drops its pair: nobody can say which field it was.
    """
    pairs: list[tuple[bytes, bytes | None]] = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        # Most names and many values need no decoding: test here, not in a call.
        if _PERCENT in name or _PLUS in name:
            try:
                name = unquote_bytes(name)
            except MalformedForm:
                continue
        if _PERCENT in value or _PLUS in value:
            try:
                value = unquote_bytes(value)
            except MalformedForm:
                pairs.append((name, None))
                continue
        pairs.append((name, value))
    return pairs
