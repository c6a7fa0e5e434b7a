"""The sms.cn wire format, both directions, sans-io: the adapter and the simulator share it.

Decisions where ``smscn.txt`` is silent or contradicts itself:

* Every answer that is not a report or reply listing is ``sms&stat=N&...``:
  GBK, values not percent-encoded, no trailing newline.  ``/mt/`` carries
  ``message`` (the code's description), ``/mm/`` carries ``remain``.  The
  document shows no error answer for ``/st/`` or ``/mm/``; they use the same
  ``sms&stat=N&message=...`` line (三、响应格式 applies to every request).
* ``/rx/`` answers in its own shape, ``100{&}record{&}record``, so its error
  answer is the bare code (``101``), and no replies is an empty body.
* ``/st/`` lines are ``phone,status,mobileid, time`` separated by ``\\n`` (the
  document writes "换行"; ``\\r\\n`` is read too), with the space before the
  time the document's examples show.  No reports is an empty body.
* Only ``||`` in reply text is escaped (to full-width ``｜｜``), as the document
  says; a record is split on its first and last two ``||`` so stray bars in a
  text would still be kept.
* Request fields follow the esms100 family's rules (GBK unless
  ``encode=utf8``), so the adapter reads pushes with
  :func:`adapters.esms100.wire.decode_params`, which also takes UTF-8 that
  forgot to say so; the simulator reads strictly, as the vendor would.
* Times carry no zone: they are read and written in the account's
  ``timezone`` (China unless configured), never the host's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from adapters.form import urlencode
from adapters.zones import placed, wall

GBK = "gbk"
_GBK_IN = "gb18030"  # GBK's superset: no GBK byte sequence is refused
_DIGITS = frozenset("0123456789")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
REPLY_SEP = "{&}"
OK = 100


def password_digest(password: str, uid: str) -> str:
    """``pwd``: the lowercase hex MD5 of password + uid (一、1.1)."""
    return hashlib.md5((password + uid).encode("utf-8")).hexdigest()


def mobile_ids(phones: Sequence[str], first_ms: int) -> tuple[list[str], int]:
    """``mobileids`` of one request, and the last millisecond they use.

    Each is the phone's digits and a 13-digit millisecond time, the
    document's recipe (目标号码+当前时间戳整数，精确到毫秒).  A phone listed
    again takes the next millisecond (a chunk's numbers are unique, as the
    legacy port's are, but ids must be even if they were not); the caller
    starts its next request after the last.  A reload's new adapter starts
    again from the clock: ids stay unique unless one account took more than a
    thousand requests a second just before it.
    """
    seen: dict[str, int] = {}
    ids: list[str] = []
    last = first_ms
    for phone in phones:
        digits = "".join(c for c in phone if c in _DIGITS)
        again = seen.get(digits, 0)
        seen[digits] = again + 1
        last = max(last, first_ms + again)
        ids.append(f"{digits}{first_ms + again:013d}")
    return ids, last


def is_digits(value: str) -> bool:
    return bool(value) and all(c in _DIGITS for c in value)


def split_list(value: str | None) -> list[str]:
    """A comma-separated field (``mobile``, ``mobileids``), blanks dropped."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def decode_text(raw: bytes) -> str:
    """Vendor text is GBK; take UTF-8 when it is not GBK but is UTF-8; never fail."""
    for charset in (_GBK_IN, "utf-8"):
        try:
            return raw.decode(charset)
        except UnicodeDecodeError:
            continue
    return raw.decode(_GBK_IN, errors="replace")


def format_time(t: datetime, zone: tzinfo) -> str:
    return wall(t, zone).strftime(TIME_FORMAT)


def parse_time(value: str, zone: tzinfo) -> datetime | None:
    try:
        return placed(datetime.strptime(value.strip(), TIME_FORMAT), zone)
    except ValueError:
        return None


def encode_auth(uid: str, pwd: str) -> str:
    return urlencode([("uid", uid), ("pwd", pwd)])


def encode_send(
    uid: str, pwd: str, mid: str | None, phones: Iterable[str], ids: Iterable[str], text: str
) -> str:
    """A ``/mt/`` form (query or body), UTF-8 with ``encode=utf8``."""
    pairs = [("uid", uid), ("pwd", pwd)]
    if mid:
        pairs.append(("mid", mid))
    pairs += [
        ("encode", "utf8"),
        ("mobile", ",".join(phones)),
        ("mobileids", ",".join(ids)),
        ("content", text),
    ]
    return urlencode(pairs)


# --- answers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    stat: int
    fields: Mapping[str, str]


def encode_answer(stat: int | str, **fields: str) -> bytes:
    parts = ["sms", f"stat={stat}", *(f"{k}={v}" for k, v in fields.items())]
    return "&".join(parts).encode(GBK, errors="replace")


def decode_answer(body: bytes) -> Answer | None:
    """An ``sms&stat=N&...`` line, or None when the body is not one."""
    parts = body.strip().split(b"&")
    if parts[0] != b"sms":
        return None
    fields: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, value = part.partition(b"=")
        if sep:
            key = name.decode("ascii", errors="replace").strip().lower()
            fields[key] = decode_text(value).strip()
    stat = fields.get("stat", "")
    if not is_digits(stat) or len(stat) > 9:
        return None
    return Answer(int(stat), fields)


def decode_bare_code(body: bytes) -> int | None:
    text = body.strip()
    if not text or len(text) > 9 or not text.isdigit():
        return None
    return int(text)


# --- status reports (五) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportLine:
    phone: str
    status: str
    mobile_id: str
    time: datetime | None


def encode_reports(lines: Iterable[ReportLine], zone: tzinfo) -> bytes:
    return "\n".join(
        f"{r.phone},{r.status},{r.mobile_id}, {format_time(r.time, zone) if r.time else ''}"
        for r in lines
    ).encode(GBK, errors="replace")


def decode_reports(body: bytes, zone: tzinfo) -> tuple[list[ReportLine], int]:
    """The lines understood, and how many non-blank lines were not."""
    out: list[ReportLine] = []
    bad = 0
    for line in decode_text(body).splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4 or not fields[0] or not fields[1] or not is_digits(fields[2]):
            bad += 1
            continue
        out.append(ReportLine(fields[0], fields[1], fields[2], parse_time(fields[3], zone)))
    return out, bad


# --- replies (六) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    phone: str
    text: str
    time: datetime | None
    gateway: str


def encode_replies(records: Iterable[ReplyRecord], zone: tzinfo) -> bytes:
    items = [
        f"{r.phone}||{r.text.replace('||', '｜｜')}||{format_time(r.time, zone) if r.time else ''}"
        f"||{r.gateway}"
        for r in records
    ]
    if not items:
        return b""
    return REPLY_SEP.join([str(OK), *items]).encode(GBK, errors="replace")


@dataclass(frozen=True, slots=True)
class ReplyList:
    stat: int
    records: list[ReplyRecord]
    bad: int  # records not understood


def decode_replies(body: bytes, zone: tzinfo) -> ReplyList | None:
    """A ``/rx/`` answer; None when its leading code is missing."""
    text = decode_text(body).strip()
    if not text:
        return ReplyList(OK, [], 0)
    head, *items = text.split(REPLY_SEP)
    head = head.strip()
    if not is_digits(head) or len(head) > 9:
        return None
    records: list[ReplyRecord] = []
    bad = 0
    for item in items:
        if not item.strip():
            continue
        fields = item.split("||")
        phone = fields[0].strip()
        if len(fields) < 4 or not phone:
            bad += 1
            continue
        body_text = "||".join(fields[1:-2])
        when = parse_time(fields[-2], zone)
        records.append(ReplyRecord(phone, body_text, when, fields[-1].strip()))
    return ReplyList(int(head), records, bad)


def encode_reply_push(uid: str, record: ReplyRecord, zone: tzinfo) -> str:
    """A 6.2 push query, GBK like everything the vendor sends."""
    pairs = [("cmd", "res"), ("uid", uid), ("mobile", record.phone), ("content", record.text)]
    if record.time is not None:
        pairs.append(("time", format_time(record.time, zone)))
    return urlencode(pairs, charset=GBK)
