"""esms100's answer codes (``esms100.txt``, 附表) and the outcome each one means."""

from __future__ import annotations

from core.outcome import Outcome

CODES: dict[int, tuple[Outcome, str]] = {
    0: (Outcome.ACCEPTED, "操作成功"),
    -1: (Outcome.AUTH_FAILED, "失败、用户或密码错误"),
    -2: (Outcome.REQUEST_INVALID, "缺少源号码"),
    -3: (Outcome.REQUEST_INVALID, "缺少密码"),
    -4: (Outcome.REQUEST_INVALID, "缺少短信内容"),
    -5: (Outcome.REQUEST_INVALID, "缺少目标号码"),
    -6: (Outcome.AUTH_FAILED, "企业账号登陆失败"),
    -7: (Outcome.REQUEST_INVALID, "内容过长"),
    -8: (Outcome.REQUEST_INVALID, "超过单次允许提交号码数量上限"),
    -9: (Outcome.AUTH_FAILED, "账户无效或暂停使用"),
    -10: (Outcome.BALANCE_EXHAUSTED, "余额不足"),
    -11: (Outcome.CONTENT_REJECTED, "含有敏感词句"),
    # Hourly and daily volume caps: the vendor will take traffic again later,
    # so they back the vendor off like a rate limit rather than eject it.
    -12: (Outcome.RATE_LIMITED, "本小时流量到"),
    -13: (Outcome.RATE_LIMITED, "本日流量到"),
    -14: (Outcome.REQUEST_INVALID, "扩展号错误"),
    -15: (Outcome.RATE_LIMITED, "操作频率过快"),
    -16: (Outcome.RECIPIENT_INVALID, "目标号码不正确"),
    -17: (Outcome.VENDOR_BUSY, "主机无响应"),
    -18: (Outcome.AUTH_FAILED, "不支持API"),
    # Outside the vendor's sending hours: another vendor may send now.
    -19: (Outcome.RATE_LIMITED, "不在发送时间段内"),
    -20: (Outcome.CONTENT_REJECTED, "发送内容不在模版范围"),
    -110: (Outcome.VENDOR_BUSY, "系统错误，请联系业务员"),
}


def outcome_of(code: int) -> Outcome | None:
    entry = CODES.get(code)
    return entry[0] if entry else None
