"""c123's result codes and delivery states (``c123.txt``) and what each one means.

Every interface answers ``<xml name="ACTION" result="CODE"/>``.  The send
table (sendOnce, sendBatch, sendParam) is the superset; the tables of
getSendState, getReply, getBalance and updateKey list subsets of it with the
same meanings, so one table serves them all.
"""

from __future__ import annotations

from adapters.base import DeliveryStatus
from adapters.c123.wire import parse_int
from core.outcome import Outcome

CODES: dict[int, tuple[Outcome, str]] = {
    1: (Outcome.ACCEPTED, "操作成功"),
    # The account is not written staff@enterprise: our configuration is wrong.
    0: (Outcome.AUTH_FAILED, "帐户格式不正确(正确的格式为:员工编号@企业编号)"),
    # One code for "too fast", "outside the allowed hours" and "request from an
    # IP that is not bound to the account".  The vendor says to retry later, so
    # it backs off like a rate limit; an unbound IP therefore hides here and
    # shows only as a vendor that is rate limited all the time.
    -1: (Outcome.RATE_LIMITED, "服务器拒绝(速度过快、限时或绑定IP不对等)如遇速度过快可延时再发"),
    -2: (Outcome.AUTH_FAILED, "密钥不正确"),
    -3: (Outcome.AUTH_FAILED, "密钥已锁定"),
    -4: (Outcome.REQUEST_INVALID, "参数不正确(内容和号码不能为空，手机号码数过多，发送时间错误等)"),
    -5: (Outcome.AUTH_FAILED, "无此帐户"),
    -6: (Outcome.AUTH_FAILED, "帐户已锁定或已过期"),
    -7: (Outcome.AUTH_FAILED, "帐户未开启接口发送"),
    -8: (Outcome.AUTH_FAILED, "不可使用该通道组"),
    -9: (Outcome.BALANCE_EXHAUSTED, "帐户余额不足"),
    -10: (Outcome.VENDOR_BUSY, "内部错误"),
    -11: (Outcome.VENDOR_BUSY, "扣费失败"),
}

# getSendState's ``result``: c123's own verdict on a message.
SEND_STATES: dict[int, tuple[DeliveryStatus, str]] = {
    0: (DeliveryStatus.UNKNOWN, "未知状态"),
    1: (DeliveryStatus.FAILED, "发送失败"),
    2: (DeliveryStatus.DELIVERED, "发送成功"),
}

# getSendState's ``return``: the operator's SMSC status.
OPERATOR_STATES: dict[str, tuple[DeliveryStatus, str]] = {
    "DELIVRD": (DeliveryStatus.DELIVERED, "短消息转发成功"),
    "EXPIRED": (DeliveryStatus.FAILED, "短消息超过有效期"),
    "DELETED": (DeliveryStatus.FAILED, "短消息已经被删除"),
    "UNDELIV": (DeliveryStatus.FAILED, "短消息是不可达的"),
    # Still waiting at the operator: not an end state yet.
    "ACCEPTD": (DeliveryStatus.UNKNOWN, "短消息在等待发送中"),
    "UNKNOWN": (DeliveryStatus.UNKNOWN, "未知短消息状态"),
    "REJECTD": (DeliveryStatus.FAILED, "短消息被短信中心拒绝"),
    "DTBLACK": (DeliveryStatus.FAILED, "目的号码是黑名单号码"),
    "DTWORDS": (DeliveryStatus.FAILED, "发送内容被过滤"),
    "DTFAILD": (DeliveryStatus.FAILED, "发送失败原因未明"),
    "ERRBUSY": (DeliveryStatus.UNKNOWN, "运营商系统忙状态未知"),
}


def outcome_of(code: int) -> Outcome | None:
    entry = CODES.get(code)
    return entry[0] if entry else None


def delivery_status(result: str | None, operator: str | None) -> DeliveryStatus:
    """c123's verdict when it has one (1 or 2), else the operator's status, else unknown.

    ``result`` 0 ("unknown") with an operator status beside it defers to the
    operator, who knows more.
    """
    code = parse_int(result)
    state = SEND_STATES.get(code) if code is not None else None
    if state is not None and state[0] is not DeliveryStatus.UNKNOWN:
        return state[0]
    op = OPERATOR_STATES.get((operator or "").strip().upper())
    return op[0] if op else DeliveryStatus.UNKNOWN
