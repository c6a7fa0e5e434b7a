"""The sms10000 wire format, both directions, sans-io: the adapter and the simulator share it.

Decisions where ``sms10000.txt`` is silent:

* ``key`` is the lowercase hex MD5 ("Md5_32": 32 hex digits, case unstated)
  of the UTF-8 bytes of eprId + userId + password + timestamp; the simulator
  accepts either case.
* ``result`` may come as a JSON string or number.  The document's curly quotes
  around its JSON example are surely its word processor's, but an answer in
  them is read as well.
* Everything is UTF-8, the document's one charset.  A body that is not UTF-8
  is not understood; an XML body is decoded by us, so its declared encoding
  is ignored and a UTF-16 body can not smuggle a DTD past the check below.
* Any XML with a DTD (``<!DOCTYPE``, ``<!ENTITY``) is refused unread, so no
  entity is ever expanded, internal or external.
* In a push, ``count`` is informational: the items are what counts.  Element
  text is stripped, except a reply's ``content``, which is kept as sent.  A
  status item without mobile, msgId or status, or a reply without mobile or
  content, makes the whole push not understood.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adapters.form import parse_pairs, urlencode

PATH = "/api/webservice"
STATUS_PUSH = 1
REPLY_PUSH = 2
_ITEM_TAG = {STATUS_PUSH: "pushStatusForm", REPLY_PUSH: "pushSmsForm"}
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


@dataclass(frozen=True, slots=True)
class Answer:
    result: str
    tips: str


@dataclass(frozen=True, slots=True)
class PushItem:
    mobile: str
    msg_id: str
    epr_id: str = ""
    user_id: str = ""
    status: str = ""  # status pushes
    content: str = ""  # reply pushes


@dataclass(frozen=True, slots=True)
class Push:
    type: int
    items: tuple[PushItem, ...]


def sign(epr_id: int | str, user_id: str, password: str, timestamp: int | str) -> str:
    return hashlib.md5(f"{epr_id}{user_id}{password}{timestamp}".encode()).hexdigest()


def encode_send(
    *,
    epr_id: int,
    user_id: str,
    password: str,
    timestamp: int,
    msg_id: int,
    phones: Iterable[str],
    text: str,
) -> bytes:
    """A ``cmd=send`` form asking for a JSON answer."""
    return urlencode(
        [
            ("cmd", "send"),
            ("eprId", str(epr_id)),
            ("userId", user_id),
            ("timestamp", str(timestamp)),
            ("key", sign(epr_id, user_id, password, timestamp)),
            ("msgId", str(msg_id)),
            ("format", "1"),
            ("mobile", ",".join(phones)),
            ("content", text),
        ]
    ).encode("ascii")


def decode_params(query: bytes, body: bytes = b"") -> dict[str, str]:
    """Query and form merged, the body winning; a value that is not UTF-8 is left out."""
    params: dict[str, str] = {}
    for name, value in parse_pairs(query) + parse_pairs(body):
        key = name.decode("utf-8", errors="replace")
        try:
            params[key] = "" if value is None else value.decode("utf-8").strip()
        except UnicodeDecodeError:
            params[key] = ""
    return {k: v for k, v in params.items() if v}


def encode_answer(code: str, tips: str, xml: bool) -> bytes:
    if not xml:
        return json.dumps({"result": code, "tips": tips}, ensure_ascii=False).encode()
    root = ET.Element("serviceResult")
    ET.SubElement(root, "result").text = code
    ET.SubElement(root, "tips").text = tips
    return (_XML_DECLARATION + ET.tostring(root, encoding="unicode")).encode()


def decode_answer(body: bytes) -> Answer | None:
    """A send's answer, JSON or XML, or None when it is neither."""
    text = _utf8(body)
    if text is None:
        return None
    if text.startswith("{"):
        return _json_answer(text)
    root = _parse_xml(text)
    if root is None or root.tag != "serviceResult":
        return None
    result = root.findtext("result")
    if result is None:
        return None
    return Answer(result.strip(), (root.findtext("tips") or "").strip())


def encode_push(type_: int, items: Sequence[PushItem]) -> bytes:
    root = ET.Element("returnForm")
    ET.SubElement(root, "type").text = str(type_)
    ET.SubElement(root, "count").text = str(len(items))
    forms = ET.SubElement(root, "list")
    for item in items:
        form = ET.SubElement(forms, _ITEM_TAG[type_])
        value = ("status", item.status) if type_ == STATUS_PUSH else ("content", item.content)
        for name, text in (
            ("eprId", item.epr_id),
            ("mobile", item.mobile),
            ("msgId", item.msg_id),
            value,
            ("userId", item.user_id),
        ):
            ET.SubElement(form, name).text = text
    return ET.tostring(root, encoding="unicode").encode()


def decode_push(body: bytes) -> Push | None:
    text = _utf8(body)
    root = None if text is None else _parse_xml(text)
    if root is None or root.tag != "returnForm":
        return None
    type_ = (root.findtext("type") or "").strip()
    kind = STATUS_PUSH if type_ == "1" else REPLY_PUSH if type_ == "2" else None
    if kind is None:
        return None
    forms = root.find("list")
    items: list[PushItem] = []
    for form in [] if forms is None else forms:
        item = _push_item(form, kind) if form.tag == _ITEM_TAG[kind] else None
        if item is None:
            return None
        items.append(item)
    return Push(kind, tuple(items))


def _push_item(form: ET.Element, kind: int) -> PushItem | None:
    def field(name: str) -> str:
        return (form.findtext(name) or "").strip()

    mobile, msg_id, epr_id, user_id = (field(n) for n in ("mobile", "msgId", "eprId", "userId"))
    if not mobile:
        return None
    if kind == STATUS_PUSH:
        status = field("status")
        if not msg_id or not status:
            return None
        return PushItem(mobile, msg_id, epr_id, user_id, status=status)
    content = form.findtext("content")
    if content is None:
        return None
    return PushItem(mobile, msg_id, epr_id, user_id, content=content)


def _utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        return None


# The document's own example, {“result”:”1”,”tips”:”成功”}, is JSON in a word
# processor's quotes.
_STRAIGHT = str.maketrans({"“": '"', "”": '"'})


def _json_answer(text: str) -> Answer | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        try:
            data = json.loads(text.translate(_STRAIGHT))
        except (ValueError, RecursionError):
            return None
    if not isinstance(data, dict):
        return None
    result, tips = data.get("result"), data.get("tips")
    if isinstance(result, bool) or not isinstance(result, str | int):
        return None
    return Answer(str(result).strip(), tips.strip() if isinstance(tips, str) else "")


def _parse_xml(text: str) -> ET.Element | None:
    upper = text.upper()
    if not text.startswith("<") or "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        return None
    try:
        # Safe without defusedxml: a document without a DTD declares no entity.
        return ET.fromstring(text)  # noqa: S314
    except (ET.ParseError, ValueError):
        return None
