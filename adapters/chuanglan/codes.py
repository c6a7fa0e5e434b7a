"""chuanglan's answer codes (``chuanglan.txt`` 1.3.3, 4.4) and report values (2.2)."""

from __future__ import annotations

from adapters.base import DeliveryStatus
from core.outcome import Outcome

SEND_CODES: dict[int, tuple[Outcome, str]] = {
    0: (Outcome.ACCEPTED, "提交成功"),
    101: (Outcome.AUTH_FAILED, "无此用户"),
    102: (Outcome.AUTH_FAILED, "密码错"),
    103: (Outcome.RATE_LIMITED, "提交过快（提交速度超过流速限制）"),
    104: (Outcome.VENDOR_BUSY, "系统忙（因平台侧原因，暂时无法处理提交的短信）"),
    105: (Outcome.CONTENT_REJECTED, "敏感短信（短信内容包含敏感词）"),
    106: (Outcome.REQUEST_INVALID, "消息长度错（>536或<=0）"),
    108: (Outcome.REQUEST_INVALID, "手机号码个数错（发送>50000或<=0;）"),
    109: (Outcome.BALANCE_EXHAUSTED, "无发送额度（该用户可用短信数已使用完）"),
    # Outside the vendor's sending hours: another vendor can send now, and
    # this one will take traffic again later, so back off rather than eject.
    110: (Outcome.RATE_LIMITED, "不在发送时间内"),
    111: (Outcome.BALANCE_EXHAUSTED, "超出该账户当月发送额度限制"),
    # 112, 118 and 119 are account set-up faults, as loud as a wrong password.
    112: (Outcome.AUTH_FAILED, "无此产品，用户没有订购该产品"),
    113: (Outcome.REQUEST_INVALID, "extno格式错（非数字或者长度不对）"),
    115: (Outcome.CONTENT_REJECTED, "自动审核驳回"),
    116: (Outcome.CONTENT_REJECTED, "签名不合法，未带签名（用户必须带签名的前提下）"),
    117: (Outcome.IP_REJECTED, "IP地址认证错,请求调用的IP地址不是系统登记的IP地址"),
    118: (Outcome.AUTH_FAILED, "用户没有相应的发送权限"),
    119: (Outcome.AUTH_FAILED, "用户已过期"),
    120: (Outcome.CONTENT_REJECTED, "内容不在白名单中"),
}

BALANCE_CODES: dict[int, tuple[Outcome, str]] = {
    0: (Outcome.ACCEPTED, "成功"),
    101: (Outcome.AUTH_FAILED, "无此用户"),
    102: (Outcome.AUTH_FAILED, "密码错"),
    103: (Outcome.RATE_LIMITED, "查询过快（建议每10秒查询一次）"),
}

DELIVERED = "DELIVRD"

STATUSES: dict[str, tuple[DeliveryStatus, str]] = {
    DELIVERED: (DeliveryStatus.DELIVERED, "发送成功"),
    "MBBLACK": (DeliveryStatus.FAILED, "黑名单号码"),
    "ROUTEERR": (DeliveryStatus.FAILED, "通道异常"),
    "REJECT": (DeliveryStatus.FAILED, "审核驳回"),
    "DISTURB": (DeliveryStatus.FAILED, "手机号码发送次数过多"),
    "EMSERR": (DeliveryStatus.FAILED, "长短信不完整"),
    "SIGNERR": (DeliveryStatus.FAILED, "签名错"),
    "KEYWORD": (DeliveryStatus.FAILED, "敏感词"),
}


def send_outcome(code: int) -> Outcome | None:
    entry = SEND_CODES.get(code)
    return entry[0] if entry else None


def balance_outcome(code: int) -> Outcome | None:
    """4.4's codes first; a send code (117 from an unregistered IP) can answer a query too."""
    entry = BALANCE_CODES.get(code) or SEND_CODES.get(code)
    return entry[0] if entry else None


def delivery_status(raw: str) -> DeliveryStatus:
    """Anything but DELIVRD is a failure: the rest are the gateway's own error values."""
    entry = STATUSES.get(raw.strip().upper())
    return entry[0] if entry else DeliveryStatus.FAILED
