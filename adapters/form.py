"""``application/x-www-form-urlencoded`` in any charset, strictly.

Vendors and legacy clients percent-encode text in GBK or UTF-8 the way PHP's
``urlencode`` and Java's ``URLEncoder`` do: every byte outside
``A-Za-z0-9-_.`` as ``%XX``, space as ``+``.  The standard library decodes
only UTF-8 leniently; we need the raw bytes of each value, decoded later in
the charset the request declares, and we need to know when a ``%`` is not
followed by two hex digits.
"""

from __future__ import annotations

from collections.abc import Iterable

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# One table lookup per byte is what keeps encoding off the profile.
_ENCODED = [chr(b) if b in _SAFE else ("+" if b == 0x20 else f"%{b:02X}") for b in range(256)]


class MalformedForm(ValueError):
    pass


def quote(value: str, charset: str = "utf-8") -> str:
    return "".join([_ENCODED[b] for b in value.encode(charset, errors="replace")])


def urlencode(pairs: Iterable[tuple[str, str]], charset: str = "utf-8") -> str:
    return "&".join(f"{quote(k, charset)}={quote(v, charset)}" for k, v in pairs)


def unquote_bytes(raw: bytes) -> bytes:
    """Percent-decode; raise :class:`MalformedForm` on a broken escape."""
    if b"%" not in raw and b"+" not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x25:  # %
            h1, h2 = raw[i + 1 : i + 2], raw[i + 2 : i + 3]
            if not h1 or not h2 or h1[0] not in _HEX or h2[0] not in _HEX:
                raise MalformedForm("bad escape")
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        elif c == 0x2B:  # +
            out.append(0x20)
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out)


def parse_pairs(raw: bytes) -> list[tuple[bytes, bytes | None]]:
    """Split a form into (name, raw value) pairs; a value is None when its escapes are broken.

    A broken name drops its pair: nobody can say which field it was.
    """
    pairs: list[tuple[bytes, bytes | None]] = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        try:
            key = unquote_bytes(name)
        except MalformedForm:
            continue
        try:
            pairs.append((key, unquote_bytes(value)))
        except MalformedForm:
            pairs.append((key, None))
    return pairs
