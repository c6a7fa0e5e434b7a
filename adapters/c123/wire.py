"""The c123 wire format, both directions, sans-io: the adapter and the simulator share it.

Requests are ``name=value`` forms in UTF-8; every answer is one XML element
``<xml name="ACTION" result="CODE">`` holding zero or more ``<Item .../>``
whose attributes carry the data.

Decisions where ``c123.txt`` is silent or contradicts itself:

* An answer is understood only if it parses as XML, its root is ``xml`` and
  ``result`` is an integer.  ``name`` echoes the action and is not relied on.
  A body with a DOCTYPE is refused unparsed: c123 never sends one, and with
  no DTD there are no entity declarations to expand.
* getReply's ``time`` is documented as seconds since 1970 (UTC) but the
  example, ``1373883378000``, is milliseconds.  We take the magnitude:
  ``>= 10**11`` is milliseconds (as seconds that would be the year 5138; as
  milliseconds it is 1973).  Times are returned aware, in the account's
  ``timezone`` (China unless configured): the instant is the same in any
  zone, the zone is how it is shown.
* sendOnce's schedule ``t`` (``YYYYMMDDhhmmss``) is on c123's clock, in
  China; we never send one, the simulator reads it.
* Money (``remain``, ``price``) is a plain decimal; anything else (``NaN``,
  ``1e3``, empty) is not a number we trust.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from xml.sax.saxutils import quoteattr

from adapters.form import parse_pairs, urlencode
from adapters.zones import wall

OPEN_API = "/OpenPlatform/OpenApi"  # sending, balance
DATA_API = "/DataPlatform/DataApi"  # reports, replies

_MONEY = re.compile(r"^-?\d+(\.\d+)?$")
_INT = re.compile(r"^-?\d{1,20}$")
_MS_THRESHOLD = 10**11
# XML 1.0 cannot carry these even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTR_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


@dataclass(frozen=True, slots=True)
class Answer:
    name: str
    result: int
    items: tuple[Mapping[str, str], ...] = ()


def parse_int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if _INT.match(text) else None


def parse_money(value: str | None) -> Decimal | None:
    text = (value or "").strip()
    return Decimal(text) if _MONEY.match(text) else None


def parse_epoch(value: str | None, zone: tzinfo) -> datetime | None:
    number = parse_int(value)
    if number is None or number < 0:
        return None
    seconds = number / 1000 if number >= _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    except (OverflowError, OSError, ValueError):
        return None


def encode_form(pairs: Iterable[tuple[str, str]]) -> bytes:
    return urlencode(pairs).encode("ascii")


def decode_answer(body: bytes) -> Answer | None:
    """The answer, or None when it is not a c123 answer at all."""
    if b"<!doctype" in body.lower():
        return None
    try:
        # The stdlib parser is safe here: no DTD reaches it (above) and it
        # never fetches anything.
        root = ET.fromstring(body)  # noqa: S314
    except (ET.ParseError, ValueError, LookupError):  # bad XML, unsupported charsets
        return None
    result = parse_int(root.get("result"))
    if root.tag.lower() != "xml" or result is None:
        return None
    items = tuple(dict(el.attrib) for el in root if el.tag.lower() == "item")
    return Answer(root.get("name", ""), result, items)


def encode_answer(name: str, result: int | str, items: Iterable[Mapping[str, str]] = ()) -> bytes:
    """The vendor's bytes: one line per element, as in the document's examples."""
    head = f"<xml name={_attr(name)} result={_attr(str(result))}"
    lines = [
        "<Item " + " ".join(f"{key}={_attr(value)}" for key, value in item.items()) + "/>"
        for item in items
    ]
    if not lines:
        return f"{head}/>".encode()
    return "\n".join([f"{head}>", *lines, "</xml>"]).encode()


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", value), _ATTR_ENTITIES)


def decode_params(query: bytes, body: bytes = b"") -> dict[str, str]:
    """A request's fields, query and form merged (the form wins), names lowercased.

    A value that is not UTF-8 or whose escapes are broken reads as empty, as
    if it were missing: c123 takes UTF-8 only.
    """
    values: dict[str, str] = {}
    for name, raw in parse_pairs(query) + parse_pairs(body):
        key = name.decode("latin-1").strip().lower()
        try:
            values[key] = "" if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError:
            values[key] = ""
    return values


def format_epoch_ms(when: datetime) -> str:
    return str(int(wall(when, UTC).timestamp() * 1000))
