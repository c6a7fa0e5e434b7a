"""sms10000's answer codes and push statuses (``sms10000.txt``) and what each one means.

Decisions where the document says too little:

* ``0`` is a bare "失败".  The document has no balance code, so the ``tips``
  text is the only place the vendor can say it is out of money: ``0`` whose
  tips name the balance (余额, 欠费) is BALANCE_EXHAUSTED; any other ``0`` is
  VENDOR_BUSY, which fails the chunk over and counts toward ejection.
* ``-2`` "请求已经过期" means our ``timestamp`` is outside the vendor's window:
  our clock is off.  Resending will not heal it, so it is AUTH_FAILED, a
  configuration fault that ejects the vendor long and is logged loudly.
* ``-7`` "定时日期格式不对": we never send a schedule, so it is a bug of ours,
  REQUEST_INVALID.
* ``-8`` "签名不对" is the text's 【signature】, which the vendor adds itself
  and checks against the account's registered one: CONTENT_REJECTED.
"""

from __future__ import annotations

from adapters.base import DeliveryStatus
from core.outcome import Outcome

CODES: dict[int, tuple[Outcome, str]] = {
    1: (Outcome.ACCEPTED, "成功"),
    0: (Outcome.VENDOR_BUSY, "失败"),
    -1: (Outcome.REQUEST_INVALID, "缺少参数"),
    -2: (Outcome.AUTH_FAILED, "请求已经过期"),
    -3: (Outcome.AUTH_FAILED, "Key验证失败"),
    -4: (Outcome.IP_REJECTED, "Ip验证失败"),
    -5: (Outcome.AUTH_FAILED, "eprId不存在"),
    -6: (Outcome.AUTH_FAILED, "userId不存在"),
    -7: (Outcome.REQUEST_INVALID, "定时日期格式不对"),
    -8: (Outcome.CONTENT_REJECTED, "签名不对"),
}

# Words in the tips of a ``0`` answer that mean the account is out of money.
BALANCE_TIPS = ("余额", "欠费")

PUSH_STATUS: dict[str, DeliveryStatus] = {
    "1": DeliveryStatus.DELIVERED,
    "-1": DeliveryStatus.FAILED,
}


def outcome_of(code: int, tips: str = "") -> Outcome | None:
    entry = CODES.get(code)
    if entry is None:
        return None
    if code == 0 and any(word in tips for word in BALANCE_TIPS):
        return Outcome.BALANCE_EXHAUSTED
    return entry[0]


def description(code: int) -> str:
    entry = CODES.get(code)
    return entry[1] if entry else "未知错误"


def delivery_status(raw: str) -> DeliveryStatus:
    return PUSH_STATUS.get(raw.strip(), DeliveryStatus.UNKNOWN)
