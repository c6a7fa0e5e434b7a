"""The esms100 wire format, both directions, sans-io.

smsproxy serves this format to legacy clients and speaks it to the esms100
vendor, and the esms100 simulator serves it too: one codec for all three.

Decisions where ``esms100.txt`` is silent or contradicts itself:

* Request charset: GBK unless ``encode=utf8`` (any case, also ``utf-8``).
  We decode GBK as GB18030, its superset, so no GBK byte sequence is refused.
  A value that is valid UTF-8 and holds a character of three UTF-8 bytes or
  more (every Chinese one) is taken as UTF-8 even without ``encode=utf8``:
  PHP clients forget the flag often.  GBK text is valid UTF-8 only when all
  its characters pair up as two-byte sequences (谢谢 is ``D0 BB D0 BB``, ``лл``
  in UTF-8): undeclared text of two-byte sequences alone is GBK when it is
  GB2312 (GBK's common Chinese), else UTF-8 (Cyrillic, Greek: ``Привет``).
  Accented Latin (``café``) reads as GB2312 Chinese: send it declared.
* A field whose percent-encoding is broken (``%G1``, a lone ``%``), or whose
  bytes are valid in neither charset, is *unreadable* and answered as if it
  were missing: cpid ``-2``, cppwd ``-3``, msgtext ``-4``, phone ``-5``.
* Query and POST form are merged; a field in the body wins.
* Answers are GBK plain text with no trailing newline.  Lines of a
  ``/qreport/`` answer and the count line of ``/mo/`` are separated by ``\\n``
  (the document's blank lines are its word processor's).
* An empty ``/mo/`` answer is ``0``: the document says both "0 means no
  replies" and "empty when none"; a count line is what a parser of the first
  line expects, and the empty ``/qreport/`` answer is ``0`` as well.
* ``||`` and ``##`` inside a reply's text become full-width ``｜｜`` and
  ``＃＃`` so they cannot split a record (sms.cn does the same for ``||``),
  and so does a ``|`` that ends it (it would meet the ``||`` after it); a
  line break in it becomes a space, as the records are one line.
* A poll's listing keeps every line or record it understands and counts
  the others (:class:`Listing`): the vendor hands each one out once, so
  dropping the whole batch for one bad line would lose the good ones.  A
  reply's fields may be split by a single ``#`` where the number meets
  them, as in the document's own example (``13866889911#回复内容2``), and
  its time may carry seconds as a report's does.
* Times carry no zone.  Each reader and writer names the zone they are in:
  the vendor's ``timezone`` when we read esms100, ``legacy.timezone`` when we
  answer legacy clients (see :mod:`adapters.zones`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Generic, NamedTuple, TypeVar

from adapters.form import parse_pairs, quote, urlencode
from adapters.zones import placed, wall

GBK = "gbk"
_GBK_IN = "gb18030"


class Params(NamedTuple):  # one per request: a tuple costs a third of a frozen dataclass
    """Decoded request fields, and the names of those that could not be read."""

    values: Mapping[str, str]
    unreadable: frozenset[str]
    utf8: bool

    def get(self, name: str) -> str | None:
        """The stripped value, or None when it is missing, empty or unreadable."""
        value = self.values.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None


def decode_params(query: bytes, body: bytes = b"") -> Params:
    pairs = parse_pairs(query)
    if body:
        pairs += parse_pairs(body)
    raw: dict[str, bytes | None] = {}
    for name, value in pairs:
        raw[name.decode("latin-1").strip().lower()] = value
    encode = raw.get("encode") or b""
    utf8 = encode.strip().lower() in (b"utf8", b"utf-8")
    values: dict[str, str] = {}
    unreadable: list[str] = []
    for key, value in raw.items():
        if value is not None and value.isascii():  # every field but the text, most often
            values[key] = value.decode("ascii")
            continue
        text = None if value is None else _decode(value, utf8)
        if text is None:
            unreadable.append(key)
        else:
            values[key] = text
    return Params(values, frozenset(unreadable), utf8)


def _decode(value: bytes, utf8: bool) -> str | None:
    if value.isascii():
        return value.decode("ascii")
    try:
        text: str | None = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and (utf8 or max(text) >= "\u0800"):
        return text
    if text is not None:
        # Two-byte UTF-8 is always GB18030 too: GBK's common Chinese (GB2312,
        # where 谢谢 is) decides, and Cyrillic or Greek, not in it, stay UTF-8.
        try:
            return value.decode("gb2312")
        except UnicodeDecodeError:
            return text
    try:
        return value.decode(_GBK_IN)
    except UnicodeDecodeError:
        return None


def password_digest(password: str) -> str:
    """``cppwd``: the uppercase hex MD5 of the password's UTF-8 bytes."""
    return hashlib.md5(password.encode("utf-8")).hexdigest().upper()


def encode_code(code: int) -> bytes:
    return str(code).encode("ascii")


REPORT_TIME = "%Y-%m-%d %H:%M:%S"
REPLY_TIME = "%Y-%m-%d %H:%M"


def format_report_time(t: datetime, zone: tzinfo) -> str:
    return wall(t, zone).strftime(REPORT_TIME)


def format_reply_time(t: datetime, zone: tzinfo) -> str:
    return wall(t, zone).strftime(REPLY_TIME)


@dataclass(frozen=True, slots=True)
class ReportLine:
    time: datetime
    phone: str
    status: int  # 0 unknown, 1 delivered, 2 failed


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    time: datetime
    phone: str
    text: str


def encode_reports(reports: Iterable[ReportLine], zone: tzinfo) -> bytes:
    lines = [f"{format_report_time(r.time, zone)}||{r.phone}||{r.status}" for r in reports]
    return "\n".join([str(len(lines)), *lines]).encode(GBK, errors="replace")


def _safe_reply_text(text: str) -> str:
    text = text.replace("||", "｜｜").replace("##", "＃＃")
    if "\n" in text or "\r" in text:
        # A client reads the count from the first line and the records from
        # the next: a line break in a reply would cut its record short.
        text = " ".join(text.splitlines())
    # A "|" at the end would meet the "||" after it: "ok|||" splits as "ok", "|…".
    return text[:-1] + "｜" if text.endswith("|") else text


def encode_replies(replies: Iterable[ReplyRecord], zone: tzinfo) -> bytes:
    records = [
        f"{format_reply_time(r.time, zone)}##{r.phone}##{_safe_reply_text(r.text)}" for r in replies
    ]
    if not records:
        return b"0"
    return f"{len(records)}\n{'||'.join(records)}".encode(GBK, errors="replace")


def decode_code(body: bytes) -> int | None:
    """A one-number answer (``/mt/``, ``/ent/``, ``/qamount/``), or None."""
    text = body.strip()
    if not text or len(text) > 20:
        return None
    try:
        return int(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Listing(Generic[Item]):
    """A poll's answer: what was understood, and how many items were not."""

    items: list[Item]
    bad: int = 0


def decode_reports(body: bytes, zone: tzinfo) -> Listing[ReportLine] | int | None:
    """Report lines, times in ``zone``; a negative int for an error code; None
    when the count line is not understood."""
    lines = [ln.strip() for ln in body.decode(_GBK_IN, errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return Listing([])
    try:
        count = int(lines[0])
    except ValueError:
        return None
    if count < 0:
        return count
    out: list[ReportLine] = []
    bad = 0
    # Reports of one poll share their seconds: strptime once a second, not
    # once a report (it was a seventh of a matched report's CPU on Redis).
    times: dict[str, datetime] = {}
    for line in lines[1:]:
        fields = line.split("||")
        if len(fields) != 3:
            bad += 1
            continue
        try:
            stamp = fields[0].strip()
            when = times.get(stamp)
            if when is None:
                when = times[stamp] = placed(datetime.strptime(stamp, REPORT_TIME), zone)
            out.append(ReportLine(when, fields[1].strip(), int(fields[2])))
        except ValueError:
            bad += 1
    return Listing(out, bad)


# time, number, text: "##" between them, or a single "#" beside the number.
# Greedy up to the first "#", so a hostile record costs linear time.
_LOOSE_REPLY = re.compile(r"([^#]*)##?\s*(\+?[0-9]+)\s*##?(.*)", re.S)
_NUMBER = re.compile(r"\s*\+?[0-9]+\s*")


def _reply_fields(record: str) -> list[str] | None:
    fields = record.split("##", 2)
    if len(fields) == 3 and _NUMBER.fullmatch(fields[1]):
        return fields
    # "time##number#text", the text perhaps holding "##" itself.
    loose = _LOOSE_REPLY.fullmatch(record)
    return list(loose.groups()) if loose else None


def _reply_time(stamp: str, zone: tzinfo) -> datetime:
    try:
        return placed(datetime.strptime(stamp, REPLY_TIME), zone)
    except ValueError:
        return placed(datetime.strptime(stamp, REPORT_TIME), zone)


def decode_replies(body: bytes, zone: tzinfo) -> Listing[ReplyRecord] | int | None:
    """Reply records, times in ``zone``; a negative int for an error code; None
    when the count line is not understood."""
    text = body.decode(_GBK_IN, errors="replace").strip()
    if not text:
        return Listing([])
    head, _, rest = text.partition("\n")
    try:
        count = int(head.strip())
    except ValueError:
        return None
    if count < 0:
        return count
    out: list[ReplyRecord] = []
    bad = 0
    for record in rest.strip().split("||"):
        if not record.strip():
            continue
        fields = _reply_fields(record)
        try:
            if fields is None:
                raise ValueError(record)
            when = _reply_time(fields[0].strip(), zone)
        except ValueError:
            bad += 1
            continue
        out.append(ReplyRecord(when, fields[1].strip(), fields[2]))
    return Listing(out, bad)


def encode_send(cpid: str, cppwd: str, phones: Iterable[str], text: str) -> bytes:
    """A ``/mt/`` form, UTF-8 with ``encode=utf8`` so any character survives."""
    return send_form(send_form_head(cpid, cppwd), phones, text).encode("ascii")


def send_form_head(cpid: str, cppwd: str) -> str:
    """How every ``/mt/`` form of one account begins, up to the numbers."""
    return f"{encode_auth(cpid, cppwd)}&phone="


def send_form(head: str, phones: Iterable[str], text: str) -> str:
    """:func:`encode_send` as text, after a :func:`send_form_head` made once per account."""
    return f"{head}{quote(','.join(phones))}&msgtext={quote(text)}&encode=utf8"


def encode_auth(cpid: str, cppwd: str) -> str:
    return urlencode([("cpid", cpid), ("cppwd", cppwd)])
