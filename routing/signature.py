"""Where a message's 【signature】 comes from, per vendor.

Chinese carriers require every message to carry the sender's signature in
【】.  Vendors differ: some want it in the text, some add their own approved
one (sms10000: "内容无需加签名，由系统自动添加"), some refuse text without it.
"""

from __future__ import annotations

import re

_LEADING = re.compile(r"^【[^【】]{1,20}】")
_ANYWHERE = re.compile(r"【[^【】]{1,20}】")


def has_signature(text: str) -> bool:
    return _ANYWHERE.search(text) is not None


def text_for_vendor(text: str, mode: str, signature: str | None) -> str | None:
    """The text this vendor should get, or None when it cannot take the message."""
    if mode == "add":
        return text if _LEADING.match(text) else f"{signature}{text}"
    if mode == "vendor":
        return _LEADING.sub("", text, count=1)
    if mode == "required":
        return text if has_signature(text) else None
    return text
