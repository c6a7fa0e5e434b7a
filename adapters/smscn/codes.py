"""sms.cn's ``stat`` codes (``smscn.txt``, 四) and the outcome each one means."""

from __future__ import annotations

from core.outcome import Outcome

CODES: dict[int, tuple[Outcome, str]] = {
    100: (Outcome.ACCEPTED, "发送成功"),
    101: (Outcome.AUTH_FAILED, "验证失败"),
    102: (Outcome.BALANCE_EXHAUSTED, "短信不足"),
    # "Operation failed" says nothing more: the vendor refused and did not send,
    # so another vendor may try, and the failure counts against this one.
    103: (Outcome.VENDOR_BUSY, "操作失败"),
    # Characters the vendor will not carry: a property of the text, not of us.
    104: (Outcome.CONTENT_REJECTED, "非法字符"),
    105: (Outcome.REQUEST_INVALID, "内容过多"),
    106: (Outcome.REQUEST_INVALID, "号码过多"),
    107: (Outcome.RATE_LIMITED, "频率过快"),
    108: (Outcome.REQUEST_INVALID, "号码内容空"),
    # Frozen, locked and API-disabled accounts are configuration faults to fix
    # on the vendor's web console: eject the vendor the way bad credentials do.
    109: (Outcome.AUTH_FAILED, "账号冻结"),
    110: (Outcome.RATE_LIMITED, "禁止频繁单条发送"),
    112: (Outcome.RECIPIENT_INVALID, "号码错误"),
    # We never send a schedule time, so this is a request we built wrong.
    113: (Outcome.REQUEST_INVALID, "定时时间格式不对"),
    114: (Outcome.AUTH_FAILED, "账号被锁，10分钟后登录"),
    116: (Outcome.AUTH_FAILED, "禁止接口发送"),
    117: (Outcome.IP_REJECTED, "绑定IP不正确"),
    120: (Outcome.VENDOR_BUSY, "系统升级"),
}


def outcome_of(code: int) -> Outcome | None:
    entry = CODES.get(code)
    return entry[0] if entry else None


def description_of(code: int) -> str:
    entry = CODES.get(code)
    return entry[1] if entry else "未知错误"
