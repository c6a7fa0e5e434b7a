"""The chuanglan (253) wire format, both directions, sans-io.

The adapter and the simulator share it, so what one writes the other reads.

Decisions where ``chuanglan.txt`` is silent:

* Answers are ASCII lines separated by ``\\n`` with no trailing newline (the
  blank lines of the document's examples are its word processor's).  A reader
  drops blank lines and a ``\\r`` before the ``\\n``; the first line must be a
  14-digit ``YYYYMMDDhhmmss`` time, a comma and a code, or the answer is not
  understood.
* Request and push fields are a form in UTF-8; a value that is not UTF-8 is
  read as GB18030 (GBK's superset) rather than dropped.  Field names match in
  any case (``reportTime``, ``reporttime``); a field in a POST body wins over
  the same field in the query.  A broken percent-escape (a bare ``%`` a
  sloppy sender forgot to encode) is kept as it came.
* Push times (``reportTime``, ``moTime``, ``YYMMDDhhmm``) are years 2000-2099
  on the vendor's clock: read in the account's ``timezone`` (China unless
  configured), never the host's.  So is ``resptime``, which we do not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import unquote_to_bytes

from adapters.form import urlencode
from adapters.zones import placed, wall

SEND_PATH = "/msg/HttpBatchSendSM"
BALANCE_PATH = "/msg/QueryBalance"

_FIRST_LINE = re.compile(r"(\d{14}),(\d{1,6})")
_MSGID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_COUNT_LINE = re.compile(r"([^,\s]{1,64}),(\d{1,18})")
_PUSH_TIME = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer's first line (``resptime,status``) and the lines after it."""

    time: str
    code: int
    lines: tuple[str, ...]


def format_resptime(t: datetime, zone: tzinfo) -> str:
    return wall(t, zone).strftime("%Y%m%d%H%M%S")


def format_push_time(t: datetime, zone: tzinfo) -> str:
    return wall(t, zone).strftime("%y%m%d%H%M")


def parse_push_time(value: str, zone: tzinfo) -> datetime | None:
    m = _PUSH_TIME.fullmatch(value.strip())
    if m is None:
        return None
    yy, month, day, hour, minute = (int(g) for g in m.groups())
    try:
        return placed(datetime(2000 + yy, month, day, hour, minute), zone)
    except ValueError:
        return None


def encode_answer(when: datetime, zone: tzinfo, code: str, lines: Iterable[str] = ()) -> bytes:
    return "\n".join([f"{format_resptime(when, zone)},{code}", *lines]).encode("utf-8")


def decode_answer(body: bytes) -> Answer | None:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines:
        return None
    m = _FIRST_LINE.fullmatch(lines[0])
    if m is None:
        return None
    return Answer(m.group(1), int(m.group(2)), tuple(lines[1:]))


def is_msgid(value: str) -> bool:
    return _MSGID.fullmatch(value) is not None


def decode_counts(lines: Iterable[str]) -> list[tuple[str, int]] | None:
    """A balance answer's ``productid,count`` lines, or None if one is not such a line."""
    counts: list[tuple[str, int]] = []
    for line in lines:
        m = _COUNT_LINE.fullmatch(line)
        if m is None:
            return None
        counts.append((m.group(1), int(m.group(2))))
    return counts


def decode_fields(query: bytes, body: bytes = b"") -> dict[str, str]:
    """A request's or a push's fields by lower-case name; body after query, so it wins."""
    fields: dict[str, str] = {}
    for raw in (query, body):
        for part in raw.split(b"&"):
            name, sep, value = part.partition(b"=")
            if not sep or not name:
                continue
            fields[_text(_unquote(name)).strip().lower()] = _text(_unquote(value))
    return fields


def _unquote(raw: bytes) -> bytes:
    # The standard library keeps a broken escape as it came, which is what we
    # want here, and is fast enough for a 50000-number form.
    return unquote_to_bytes(raw.replace(b"+", b" "))


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def encode_send(
    account: str,
    pswd: str,
    phones: Iterable[str],
    text: str,
    product: str | None = None,
    extno: str | None = None,
) -> bytes:
    """The ``HttpBatchSendSM`` form, fields in the document's order."""
    pairs = [
        ("account", account),
        ("pswd", pswd),
        ("mobile", ",".join(phones)),
        ("msg", text),
        ("needstatus", "true"),
    ]
    if product is not None:
        pairs.append(("product", product))
    if extno is not None:
        pairs.append(("extno", extno))
    return urlencode(pairs).encode("ascii")


def encode_auth(account: str, pswd: str) -> str:
    return urlencode([("account", account), ("pswd", pswd)])


def encode_push(fields: Mapping[str, str]) -> str:
    """A report or reply push's query string, as the vendor writes it."""
    return urlencode(fields.items())
