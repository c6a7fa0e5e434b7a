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
from collections.abc import Iterable

# Bytes a form value keeps as they are; space becomes "+", every other byte %XX.
# These run on every send (a text both ways, up to 1000 numbers), so no loop
# goes byte by byte in Python: whole runs of bytes are escaped by one regex
# callback (a Chinese text is a few runs), and the comma between numbers, the
# one escape that comes by the thousand, by bytes.replace.
_PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_., "
_NEEDS_ESCAPE = re.compile(rb"[^A-Za-z0-9\-_. ,]+")
_ESCAPE_RUN = re.compile(rb"(?:%[0-9A-Fa-f]{2})+")
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


FORM = "application/x-www-form-urlencoded"


class MalformedForm(ValueError):
    pass


def _escape(run: re.Match[bytes]) -> bytes:
    return ("%" + run[0].hex("%").upper()).encode("ascii")


def quote(value: str, charset: str = "utf-8") -> str:
    raw = value.encode(charset, errors="replace")
    if raw.translate(None, _PLAIN):  # something beyond letters, digits, "-_.", comma, space
        raw = _NEEDS_ESCAPE.sub(_escape, raw)
    return raw.replace(b",", b"%2C").replace(b" ", b"+").decode("ascii")


def urlencode(pairs: Iterable[tuple[str, str]], charset: str = "utf-8") -> str:
    return "&".join(f"{quote(k, charset)}={quote(v, charset)}" for k, v in pairs)


def _unescape(run: re.Match[bytes]) -> bytes:
    return bytes.fromhex(run[0].replace(b"%", b"").decode("ascii"))


def unquote_bytes(raw: bytes) -> bytes:
    """Percent-decode; raise :class:`MalformedForm` on a broken escape."""
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" not in raw:
        return raw
    # Decoding a valid %2C first can neither mend nor break another escape.
    raw = raw.replace(b"%2C", b",").replace(b"%2c", b",")
    if b"%" not in raw:
        return raw
    if _BROKEN_ESCAPE.search(raw):
        raise MalformedForm("bad escape")
    return _ESCAPE_RUN.sub(_unescape, raw)


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
