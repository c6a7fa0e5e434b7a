"""Raw-HTTP cases: bytes a broken client, a scanner or an attacker writes.

Random bytes, malformed request lines and headers, bad and duplicate
``Content-Length``, bad chunked bodies, header injection, HTTP/0.9 and
HTTP/2 prefaces, CONNECT and absolute URLs, pipelined mixtures of good and
bad requests, heads that never end, bodies that trickle or stop, and
clients that hang up mid-request.  Where a case holds requests it can name,
their answers are judged as the parameter-level ones; what follows a
request it cannot vouch for may only be judged against any endpoint.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from tests.fuzz.case import Account, Case, Request, TargetLimits, Write, split_writes
from tests.fuzz.params import ENDPOINT_WEIGHTS, ParamRequest, param_request

ANY = Request(None)
# A request that cannot be complete: it is answered with an error, never a 200.
INCOMPLETE = Request(None, statuses=frozenset({400, 408, 431, 503}), answered=True)
METHODS = (
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"FOO",
    b"get",
    b"G\x00T",
)
PATHS = (
    b"/",
    b"/mt/x",
    b"/MT/",
    b"//mt/",
    b"/mt/../mt/",
    b"/%6dt/",
    b"/../../etc/passwd",
    b"/admin/status",
    b"/push/esms100",
    b"/metrics",
    b"*",
    b"/mt/;jsessionid=1",
    b"/mt/#frag",
    b"/qamount/?" + b"a" * 3000,
)


def endpoint(rng: random.Random) -> str:
    return rng.choices(list(ENDPOINT_WEIGHTS), list(ENDPOINT_WEIGHTS.values()))[0]


def good_request(rng: random.Random, account: Account, limits: TargetLimits) -> ParamRequest:
    """A request within the size limits, closing or not as it likes."""
    while True:
        made = param_request(rng, account, limits)
        if not made.oversize:
            return made


def random_bytes(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    kind = rng.randint(0, 3)
    length = rng.randint(0, 2000)
    if kind == 0:
        data = rng.randbytes(length)
    elif kind == 1:
        data = bytes(rng.randint(0x20, 0x7E) for _ in range(length))
    elif kind == 2:
        # Printable with line breaks: looks like a head, is not one.
        data = bytes(rng.choice(b"GET /HTTP1.: \r\n\tabc=&?%") for _ in range(length))
    else:
        data = good_request(rng, account, limits).data
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data))
            data = data[:at] + bytes([rng.randint(0, 255)]) + data[at + 1 :]
    if rng.random() < 0.5:
        data += b"\r\n\r\n"
    requests = [ANY] * (1 + data.count(b"\n\n") + data.count(b"\n\r\n"))
    expects = b"100-continue" in data.lower()
    return _case(rng, "random-bytes", data, requests, expect_continue=expects)


def request_line(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    ep = endpoint(rng).encode()
    target = b"/" + ep + b"/?cpid=" + account.cpid.encode()
    lines = [
        b"GET " + target,  # HTTP/0.9 style, then headers
        b"GET " + target + b" HTTP/1.2",
        b"GET " + target + b" HTTP/9.9",
        b"GET " + target + b" HTTP/1",
        b"GET " + target + b" http/1.1",
        b"GET  " + target + b"  HTTP/1.1",
        b"GET\t" + target + b"\tHTTP/1.1",
        b"GET " + target + b" HTTP/1.1 extra",
        b" GET " + target + b" HTTP/1.1",
        b"GET HTTP/1.1",
        b"GET  HTTP/1.1",
        b"" + target + b" HTTP/1.1",
        rng.choice(METHODS) + b" " + target + b" HTTP/1.1",
        b"G" * rng.randint(20, 5000) + b" " + target + b" HTTP/1.1",
        b"GET /" + ep + b"/?a=\x00b HTTP/1.1",
        b"GET /" + ep + b"/?a=\x01\x7f HTTP/1.1",
        b"GET /" + ep + b"/? a b HTTP/1.1",
        b"GET /" + ep + b"/?\xff\xfe\xfd HTTP/1.1",
        b"GET " + target + b"\r HTTP/1.1",
        b"GET /" + ep + b"/\r\nHTTP/1.1",
    ]
    line = rng.choice(lines)
    ending = rng.choice([b"\r\n", b"\n", b"\r", b"\r\r\n"])
    data = line + ending + b"Host: sms" + ending + b"Connection: close" + ending + ending
    return _case(rng, "request-line", data, [ANY, ANY])


def content_length(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    made = good_request(rng, account, limits)
    body = b"cpid=" + account.cpid.encode() + b"&cppwd=" + account.cppwd.encode()
    n = len(body)
    values = [
        [b"-1"],
        [b"abc"],
        [b"1e3"],
        [b"0x10"],
        [b"+%d" % n],
        [b" %d " % n],
        [b"%d" % n, b"%d" % n],
        [b"%d" % n, b"%d" % (n + 1)],
        [b"%d, %d" % (n, n)],
        [b"99999999999999999999999999"],
        [b"%d" % (limits.max_body_bytes + rng.randint(1, 10**9))],
        [b""],
        [b"%d" % (n // 2)],  # shorter: the rest is read as the next request
        [b"%d" % (n + rng.randint(1, 50))],  # longer: the body never ends
    ]
    lengths = rng.choice(values)
    headers = b"".join(b"Content-Length: " + v + b"\r\n" for v in lengths)
    if rng.random() < 0.2:
        headers += b"Transfer-Encoding: chunked\r\n"
    path = b"/" + endpoint(rng).encode() + b"/"
    data = (
        b"POST " + path + b" HTTP/1.1\r\nHost: sms\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n" + headers + b"\r\n" + body
    )
    expects = False
    if rng.random() < 0.5:
        data += made.data
        # Which of the requests the bytes turn out to hold asks for 100 Continue, who knows.
        expects = made.request.continues
    return _case(rng, "content-length", data, [ANY, ANY, ANY], expect_continue=expects)


def chunked(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    body = b"cpid=" + account.cpid.encode() + b"&cppwd=" + account.cppwd.encode()
    bad = [
        b"zz\r\n" + body + b"\r\n0\r\n\r\n",
        b"%x\r\n" % len(body) + body + b"0\r\n\r\n",  # no CRLF after the data
        b"%x;name=value\r\n" % len(body) + body + b"\r\n0\r\n\r\n",  # an extension: fine
        b"%x\r\n" % len(body) + body + b"\r\n0\r\nX-Trailer: 1\r\n\r\n",  # a trailer: fine
        b"ffffffffffffffffff\r\n" + body,
        b"%x\r\n" % (len(body) + 10) + body + b"\r\n0\r\n\r\n",
        b"-5\r\n" + body + b"\r\n0\r\n\r\n",
        b"%x\r\n" % len(body) + body + b"\r\n",  # no last chunk: the body never ends
        b" %x\r\n" % len(body) + body + b"\r\n0\r\n\r\n",
        b"%x\n" % len(body) + body + b"\n0\n\n",
        b"0\r\n\r\n",
        b"%X\r\n" % (limits.max_body_bytes + 1) + b"a" * rng.randint(0, 5000),
    ]
    encodings = [
        b"chunked",
        b"Chunked",
        b"chunked, chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"xchunked",
        b" chunked",
        b"chunked\x00",
        b"identity",
    ]
    te = rng.choice(encodings)
    headers = b"Transfer-Encoding: " + te + b"\r\n"
    if rng.random() < 0.2:
        headers += b"Transfer-Encoding: chunked\r\n"
    version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"])
    path = b"/" + endpoint(rng).encode() + b"/"
    data = (
        b"POST "
        + path
        + b" "
        + version
        + b"\r\nHost: sms\r\nConnection: close\r\n"
        + headers
        + b"\r\n"
        + rng.choice(bad)
    )
    return _case(rng, "chunked", data, [ANY, ANY])


def headers(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    made = good_request(rng, account, limits)
    head, sep, rest = made.data.partition(b"\r\n\r\n")
    odd = [
        b"X-A: a\r\n b",  # obsolete line folding
        b"X-A: a\rb",
        b"X-A: a\nInjected: yes",
        b"X-A: \x00",
        b"X-A: \xff\xfe",
        b"X-A:: a",
        b"X-A : a",
        b" X-A: a",
        b"X A: a",
        b"X-A",
        b":a",
        b"\x00: a",
        b"X-\x80: a",
        b"Host: a\r\nHost: b",
        b"Connection: keep-alive, close",
        b"Connection: upgrade\r\nUpgrade: websocket",
        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__",
        b"Expect: 100-continue",
        b"Expect: 200-ok",
        b"X-Forwarded-For: 10.0.0.1, \xff",
        b"Content-Type: " + b"x" * 5000,
        b"X-Long: " + b"y" * rng.randint(1000, 3 * 16 * 1024),
        b"\r\n".join(b"X-%d: %s" % (i, b"v" * 100) for i in range(rng.randint(10, 400))),
    ]
    extra = b"\r\n".join(rng.choice(odd) for _ in range(rng.randint(1, 3)))
    lines = head.split(b"\r\n")
    at = rng.randint(1, len(lines))
    head = b"\r\n".join([*lines[:at], extra, *lines[at:]])
    data = head + sep + rest
    expects = made.request.continues or b"100-continue" in extra
    return _case(
        rng,
        "headers",
        data,
        [_loose(made), ANY],
        expect_continue=expects,
        answers=1 if made.keep_alive else None,
    )


def prefaces(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    ep = endpoint(rng).encode()
    options = [
        b"GET /" + ep + b"/\r\n",  # HTTP/0.9
        b"GET /" + ep + b"/\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"
        + b"\x00" * 18,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(200),  # TLS ClientHello
        b"SSH-2.0-OpenSSH_8.9\r\n",
        b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 80\r\nGET /" + ep + b"/ HTTP/1.1\r\n\r\n",
        b"\r\n\r\n\x0d\x0a\x0d\x0aQUIT\x0a" + b"\x21\x11\x00\x0c" + rng.randbytes(12),  # PROXY v2
        b"\r\n\r\nGET /" + ep + b"/ HTTP/1.1\r\nConnection: close\r\n\r\n",  # leading blank lines
        b"\x00" * rng.randint(1, 100),
        b"\r\n" * rng.randint(1, 2000),
    ]
    data = rng.choice(options)
    return _case(rng, "preface", data, [ANY, ANY])


def proxy_forms(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    ep = endpoint(rng)
    query = f"cpid={account.cpid}&cppwd={account.cppwd}".encode()
    options: list[tuple[bytes, Request]] = [
        (b"CONNECT sms:443 HTTP/1.1\r\nHost: sms:443\r\n\r\n", ANY),
        (b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n", ANY),
        (
            b"GET http://sms/" + ep.encode() + b"/?" + query + b" HTTP/1.1\r\nHost: sms\r\n"
            b"Connection: close\r\n\r\n",
            Request(ep, answered=True),
        ),
        (
            b"GET https://user:pw@sms:8080/" + ep.encode() + b"/?" + query + b" HTTP/1.1\r\n"
            b"Connection: close\r\n\r\n",
            Request(ep, answered=True),
        ),
        (b"GET http://sms HTTP/1.1\r\nConnection: close\r\n\r\n", ANY),
        (b"GET http:///" + ep.encode() + b"/ HTTP/1.1\r\nConnection: close\r\n\r\n", ANY),
        (b"GET ftp://sms/" + ep.encode() + b"/ HTTP/1.1\r\nConnection: close\r\n\r\n", ANY),
        (b"OPTIONS * HTTP/1.1\r\nHost: sms\r\nConnection: close\r\n\r\n", ANY),
        (b"GET sms/" + ep.encode() + b"/ HTTP/1.1\r\nConnection: close\r\n\r\n", ANY),
    ]
    data, request = rng.choice(options)
    return _case(rng, "proxy-forms", data, [request, ANY])


def methods_and_paths(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    ep = endpoint(rng).encode()
    query = f"?cpid={account.cpid}&cppwd={account.cppwd}".encode()
    if rng.random() < 0.4:
        method = rng.choice([*METHODS, b"HEAD"])
        path = b"/" + ep + b"/"
    else:
        method = rng.choice([b"GET", b"POST", b"HEAD"])
        path = rng.choice(PATHS)
    close = b"Connection: close\r\n" if rng.random() < 0.8 else b""
    body = b"Content-Length: 0\r\n" if method == b"POST" else b""
    data = method + b" " + path + query + b" HTTP/1.1\r\nHost: sms\r\n" + close + body + b"\r\n"
    request = Request(None, head=method == b"HEAD", answered=True)
    return _case(rng, "methods-paths", data, [request, ANY], answers=None if close else 1)


def pipelined(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    parts: list[bytes] = []
    requests: list[Request] = []
    vouched = True  # the requests so far parse as the case thinks: their answers line up
    for i in range(rng.randint(2, 5)):
        last = i == 4 or rng.random() < 0.25
        if rng.random() < 0.2:
            parts.append(rng.choice([b"BAD\r\n\r\n", b"GET / HTTP/1.1\r\nX: \x00\r\n\r\n"]))
            requests.append(ANY)
            vouched = False
            break
        made = param_request(rng, account, limits, close=last)
        if made.oversize:
            continue
        parts.append(made.data)
        requests.append(made.request if vouched else _loose(made))
        if not made.keep_alive:
            break  # the daemon closes after answering it
    data = b"".join(parts)
    return _case(rng, "pipelined", data, [*requests, ANY])


def unterminated_head(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    made = good_request(rng, account, limits)
    head = made.data.partition(b"\r\n\r\n")[0]
    cut = head[: rng.randint(1, len(head))]
    hangup = rng.random() < 0.3
    if rng.random() < 0.3:
        # After a line's end, a line break more would end the head.
        cut = cut.rstrip(b"\r\n") + b"\r\nX-Endless: " + b"z" * rng.randint(100, 40_000)
    writes = split_writes(rng, cut, pause_s=0.01)
    return _case(rng, "unterminated-head", cut, [INCOMPLETE], writes=writes, hangup=hangup)


def slow(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    """A head or body trickled in pieces, finished within its time-out or not, or cut off."""
    made = good_request(rng, account, limits)
    data = made.data
    head_end = data.index(b"\r\n\r\n") + 4
    in_body = head_end < len(data) and rng.random() < 0.7
    timeout = limits.body_timeout_s if in_body else limits.head_timeout_s
    start = head_end if in_body else rng.randint(1, head_end - 1)
    end = len(data)
    truncated = rng.random() < 0.25
    if truncated:
        end = rng.randint(start, len(data) - 1)
    pieces = rng.randint(2, 12)
    total_s = timeout * rng.uniform(0.1, 1.6)
    writes = [Write(data[:start])]
    step = max(1, (end - start) // pieces)
    for at in range(start, end, step):
        writes.append(Write(data[at : min(at + step, end)], total_s / pieces))
    hangup = truncated and rng.random() < 0.4
    if truncated:
        statuses = frozenset({400, 408, 503})
        request = Request(None, statuses=statuses, answered=True, continues=made.request.continues)
    else:
        request = replace(made.request, statuses=frozenset({200, 408, 503}))
    label = f"slow-{'body' if in_body else 'head'}{'-truncated' if truncated else ''}"
    return _case(
        rng,
        label,
        data[:end],
        [request, ANY],
        writes=tuple(writes),
        hangup=hangup,
        answers=1 if made.keep_alive and not truncated else None,
    )


def hangup(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    """A whole request, or part of one, and the client is gone before the answer."""
    made = good_request(rng, account, limits)
    data = made.data[: rng.randint(1, len(made.data))] if rng.random() < 0.5 else made.data
    return _case(rng, "hangup", data, [ANY], hangup=True)


def oversize(rng: random.Random, account: Account, limits: TargetLimits) -> Case:
    """A request line or declared body beyond max_body_bytes: -8 at once (/ent/: -1)."""
    ep = endpoint(rng)
    if rng.random() < 0.5:
        target = f"/{ep}/?msgtext=".encode() + b"a" * (limits.max_body_bytes + 100)
        data = b"GET " + target + b" HTTP/1.1\r\nHost: sms\r\n\r\n"
    else:
        declared = limits.max_body_bytes + rng.randint(1, 10**9)
        data = (
            f"POST /{ep}/ HTTP/1.1\r\nHost: sms\r\nContent-Length: {declared}\r\n\r\n".encode()
            + b"cpid=x&" * rng.randint(0, 1000)
        )
    code = -1 if ep == "ent" else -8
    request = Request(ep, codes=frozenset({code}), statuses=frozenset({200, 503}), answered=True)
    return _case(rng, "oversize", data, [request])


def _loose(made: ParamRequest) -> Request:
    """A request whose answer is judged against its endpoint's whole table."""
    return Request(made.request.endpoint, answered=True)


def _case(
    rng: random.Random,
    label: str,
    data: bytes,
    requests: list[Request],
    *,
    writes: tuple[Write, ...] | None = None,
    hangup: bool = False,
    expect_continue: bool = False,
    answers: int | None = None,
) -> Case:
    if writes is None:
        writes = split_writes(rng, data, pause_s=rng.choice([0.0, 0.002]))
    return Case(
        seed=0,
        index=0,
        label=f"raw/{label}",
        writes=writes,
        requests=tuple(requests),
        answers=answers,
        hangup=hangup,
        expect_continue=expect_continue,
        takes_s=sum(w.pause_s for w in writes),
        reset=hangup and rng.random() < 0.5,
    )


RawCase = Callable[[random.Random, Account, TargetLimits], Case]
KINDS: tuple[tuple[RawCase, int], ...] = (
    (random_bytes, 10),
    (request_line, 10),
    (content_length, 10),
    (chunked, 10),
    (headers, 12),
    (prefaces, 6),
    (proxy_forms, 6),
    (methods_and_paths, 8),
    (pipelined, 12),
    (unterminated_head, 4),
    (slow, 5),
    (hangup, 4),
    (oversize, 2),
)


def raw_case(
    rng: random.Random, seed: int, index: int, account: Account, limits: TargetLimits
) -> Case:
    make = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    return replace(make(rng, account, limits), seed=seed, index=index)
