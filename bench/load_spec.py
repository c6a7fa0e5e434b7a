"""What the load sends: the spec of a run and the bytes of each send's request.

Every request carries a different phone number (``first_phone`` + its
index), so a vendor's books show any recipient that was sent twice; every
send's text is its own verification code unless ``same_text`` (a campaign).
A retry (``retry_every``) carries an earlier send's number and text.
``api = "kannel"`` builds Kannel's ``/cgi-bin/sendsms`` requests with the
same numbers and texts.  Standard library only, like the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A verification code: every send's text differs (its code), as in real OTP
# traffic.  ``same_text`` sends one text throughout, as a campaign does.
TEXT_HEAD = "【ACME】您的验证码是 "
TEXT_TAIL = "，5 分钟内有效。"
CAMPAIGN = "【ACME】会员日全场 5 折起，详情见 App。回 T 退订"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def quote(value: str) -> str:
    """PHP ``urlencode``, as legacy clients encode."""
    return "".join(
        chr(b) if b in _SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in value.encode()
    )


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    mode: str = "closed"  # or "rate"
    concurrency: int = 32
    rate: float = 1000.0
    requests: int = 10_000
    duration_s: float = 10.0
    drain_s: float = 30.0  # after the time cap, how long answers in flight may take
    recipients: int = 1
    first_phone: int = 13_000_000_000
    cpid: str = "bench"
    cppwd: str = ""
    connect_parallel: int = 64
    same_text: bool = False
    retry_every: int = 0  # one request in this many repeats an earlier send; 0: none
    api: str = "esms100"  # or "kannel"

    def is_retry(self, i: int) -> bool:
        return self.retry_every > 0 and i % self.retry_every == self.retry_every - 1


def request_maker(spec: LoadSpec) -> Callable[[int], bytes]:
    """The bytes of the request carrying send ``i`` (a retry carries an earlier send's)."""
    host = f"Host: {spec.host}:{spec.port}\r\n".encode()
    if spec.api == "kannel":
        return kannel_maker(spec, host)
    auth = f"cpid={quote(spec.cpid)}&cppwd={quote(spec.cppwd)}"
    head_q, tail_q = quote(TEXT_HEAD).encode(), quote(TEXT_TAIL).encode()
    campaign = quote(CAMPAIGN).encode()

    def text(i: int) -> bytes:
        if spec.same_text:
            return campaign
        # Digits need no escaping: the code goes between the quoted halves.
        return b"%s%06d%s" % (head_q, (i * 7919 + 104729) % 1_000_000, tail_q)

    if spec.recipients <= 1:
        prefix = f"GET /mt/?{auth}&encode=utf8&phone=".encode()
        suffix = b" HTTP/1.1\r\n" + host + b"\r\n"
        first = spec.first_phone

        def single(i: int) -> bytes:
            return b"%s%d&msgtext=%s%s" % (prefix, first + i, text(i), suffix)

        return single

    head = b"POST /mt/ HTTP/1.1\r\n" + host
    head += b"Content-Type: application/x-www-form-urlencoded\r\n"
    form = f"{auth}&encode=utf8&phone=".encode()

    def fanout(i: int) -> bytes:
        base = spec.first_phone + i * spec.recipients
        phones = "%2C".join(map(str, range(base, base + spec.recipients))).encode()
        body = form + phones + b"&msgtext=" + text(i)
        return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    return fanout


def kannel_maker(spec: LoadSpec, host: bytes) -> Callable[[int], bytes]:
    """Kannel's sendsms: the same numbers and texts, UTF-8 in, sent as UCS-2 as Chinese is."""
    auth = f"username={quote(spec.cpid)}&password={quote(spec.cppwd)}"
    prefix = f"GET /cgi-bin/sendsms?{auth}&charset=UTF-8&coding=2&to=".encode()
    suffix = b" HTTP/1.1\r\n" + host + b"\r\n"
    head_q, tail_q = quote(TEXT_HEAD).encode(), quote(TEXT_TAIL).encode()
    first = spec.first_phone

    def single(i: int) -> bytes:
        code = (i * 7919 + 104729) % 1_000_000
        return b"%s%d&text=%s%06d%s%s" % (prefix, first + i, head_q, code, tail_q, suffix)

    return single


def accepted(spec: LoadSpec, status: int, body: bytes) -> bool:
    """The target took the send: esms100's ``0``; Kannel's ``0: Accepted for delivery``."""
    if spec.api == "kannel":
        return status in (200, 202) and body.startswith(b"0:")
    return status == 200 and body == b"0"
