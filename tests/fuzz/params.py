"""Parameter-level cases: well-formed HTTP to the five endpoints, with odd fields.

Each field is made with the meaning a client intends (right, wrong, missing,
empty, huge, non-ASCII, broken escapes, …) and written in one of the ways
clients write it; the codes the answer may carry follow from the meanings
(:mod:`tests.fuzz.expect`).  A field written twice, under an odd name, or in
a body of another content type has a meaning the case cannot be sure of:
its answer need only be one of the endpoint's codes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tests.fuzz.case import Account, Case, Request, TargetLimits, split_writes
from tests.fuzz.expect import expected_codes
from tests.fuzz.values import (
    MISSING,
    UNSURE,
    ascii_word,
    decorated_mobile,
    invalid_number,
    is_acceptable_password,
    join_numbers,
    mobile,
    random_text,
    write_value,
)

ENDPOINT_WEIGHTS = {"mt": 50, "qamount": 12, "qreport": 12, "mo": 10, "ent": 16}
FORM = b"application/x-www-form-urlencoded"
_ASCII = bytes(range(0x80))
OTHER_CONTENT_TYPES = (
    b"application/x-www-form-urlencoded; charset=GBK",
    b"application/x-www-form-urlencoded;charset=utf-8",
    b"text/plain",
    b"application/json",
    b"multipart/form-data; boundary=xyz",
    b"application/octet-stream",
    b"",
)


@dataclass
class Form:
    """The fields of one request, where each is written, and what each means."""

    rng: random.Random
    post: bool
    query: list[bytes] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    meanings: dict[str, str] = field(default_factory=dict)
    in_body_only: bool = False  # a POST whose fields all go in its body

    def add(self, name: str, text: str | None) -> None:
        """A field meaning ``text``; None leaves it out."""
        rng = self.rng
        if text is None:
            self.meanings.setdefault(name, MISSING)
            return
        in_body = self.post and (self.in_body_only or rng.random() < 0.7)
        written, meaning = write_value(rng, text, in_url=not in_body)
        name_bytes = name.encode("ascii")
        roll = rng.random()
        if roll < 0.03:
            name_bytes, meaning = name_bytes.upper(), UNSURE
        elif roll < 0.05:
            name_bytes, meaning = b"%" + b"%02X" % name_bytes[0] + name_bytes[1:], UNSURE
        part = name_bytes if not written and rng.random() < 0.3 else name_bytes + b"=" + written
        (self.body if in_body else self.query).append(part)
        known = self.meanings.get(name, MISSING)
        self.meanings[name] = meaning if known == MISSING else UNSURE

    def extras(self) -> None:
        """Fields the endpoint does not know, and stray separators."""
        for _ in range(self.rng.choice([0, 0, 0, 1, 2])):
            self.add("x" + ascii_word(self.rng, 1, 6).lower(), ascii_word(self.rng))
        if self.rng.random() < 0.1:
            self.query.append(b"")  # "&&"
        if self.rng.random() < 0.05:
            self.query.append(b"=" + ascii_word(self.rng).encode())

    def encoded(self) -> tuple[bytes, bytes]:
        self.rng.shuffle(self.query)
        self.rng.shuffle(self.body)
        return b"&".join(self.query), b"&".join(self.body)


def one_of(rng: random.Random, *options: str | Callable[[], str] | None) -> str | None:
    """One of the options; a callable one is made only when chosen (some are huge)."""
    chosen = rng.choice(options)
    return chosen() if callable(chosen) else chosen


def huge(rng: random.Random, limits: TargetLimits) -> str:
    """Long, or beyond the request size the daemon reads (never near it)."""
    if rng.random() < 0.3:
        return "9" * (limits.max_body_bytes + rng.randint(4096, 16384))
    return rng.choice("a9中") * rng.randint(1000, 8000)


def cpid_value(rng: random.Random, account: Account, limits: TargetLimits) -> str | None:
    if rng.random() < 0.8:
        return account.cpid
    return one_of(
        rng,
        None,
        "",
        "  ",
        f" {account.cpid}\t",
        lambda: ascii_word(rng),
        lambda: random_text(rng, rng.randint(1, 10)),
        "中文账号",
        lambda: huge(rng, limits) if rng.random() < 0.3 else ascii_word(rng, 64, 300),
    )


def cppwd_value(rng: random.Random, account: Account, limits: TargetLimits) -> str | None:
    if rng.random() < 0.8:
        return account.cppwd
    return one_of(
        rng,
        None,
        "",
        " ",
        account.password,
        account.cppwd.lower(),
        "0" * 32,
        account.cppwd[:-1],
        lambda: random_text(rng, 32),
        lambda: huge(rng, limits) if rng.random() < 0.3 else "F" * rng.randint(33, 500),
    )


def phone_value(rng: random.Random, limits: TargetLimits) -> str | None:
    roll = rng.random()
    if roll < 0.6:
        numbers = [decorated_mobile(rng) for _ in range(rng.choice([1, 1, 1, 2, 3, 5]))]
        if rng.random() < 0.2:
            numbers.append(numbers[0])  # a duplicate, sent once
        if rng.random() < 0.2:
            numbers += [invalid_number(rng) for _ in range(rng.randint(1, 3))]
        rng.shuffle(numbers)
        return join_numbers(rng, numbers)
    if roll < 0.75:
        return join_numbers(rng, [invalid_number(rng) for _ in range(rng.randint(1, 4))])
    if roll < 0.8:
        count = limits.max_numbers + rng.randint(1, 50)
        return ",".join(mobile(rng) for _ in range(count))
    return one_of(
        rng,
        None,
        "",
        " ",
        ",",
        "，，",
        lambda: random_text(rng, rng.randint(1, 20)),
        lambda: huge(rng, limits),
    )


def msgtext_value(rng: random.Random, limits: TargetLimits) -> str | None:
    roll = rng.random()
    if roll < 0.45:
        return random_text(rng, rng.randint(1, 30))
    if roll < 0.6:
        return "【ACME】验证码" + "".join(rng.choices("0123456789", k=6)) + "，5分钟内有效。"
    if roll < 0.75:
        return random_text(rng, rng.randint(31, limits.max_text_chars))
    if roll < 0.85:
        return random_text(rng, rng.randint(limits.max_text_chars + 1, 3 * limits.max_text_chars))
    return one_of(rng, None, "", "   ", "\u3000\u3000", "\t\r\n", lambda: huge(rng, limits))


def encode_value(rng: random.Random) -> str | None:
    return rng.choice(
        [None, None, None, "utf8", "UTF-8", "utf-8", "gbk", "GB2312", "", " utf8 ", "latin1"]
    )


def newpwd_values(rng: random.Random, account: Account, oldpwd_right: bool) -> list[str | None]:
    """New passwords for /ent/; never one it would take unless ``oldpwd`` is wrong.

    The cases share one client: a password that changed would fail every
    case after it.  So with the right ``oldpwd`` only the same password
    (spaces around it: refused, and the same even if they were trimmed), or
    one refused under any ``login.min_password_chars``, is sent.
    """
    odd = [
        None,
        "",
        " ",
        " a ",
        "a b",
        f" {account.password}",
        account.password + "\t",
        f" {account.password} ",
        "x" * 21,
        "密码12345678",
        "pass\x00word1",
        "pässwörd123",
        random_text(rng, rng.randint(1, 25)),
        "a",
        "ab",
        ascii_word(rng, 1, 20),
        account.password,
    ]
    values = [rng.choice(odd) for _ in range(rng.choice([1, 1, 1, 2]))]
    if oldpwd_right:
        values = [
            v
            for v in values
            if v is None or v.strip() == account.password or not is_acceptable_password(v.strip())
        ]
    return values or [None]


def duplicate(rng: random.Random, form: Form, account: Account) -> None:
    """The same field twice, as a careless client builds its URL."""
    name = rng.choice(list(form.meanings))
    form.add(name, rng.choice([ascii_word(rng), "", account.cpid, account.cppwd]))


def fields_for(
    rng: random.Random, form: Form, endpoint: str, account: Account, limits: TargetLimits
) -> None:
    form.add("cpid", cpid_value(rng, account, limits))
    if endpoint == "ent":
        oldpwds = [cppwd_value(rng, account, limits)]
        if rng.random() < 0.08:
            oldpwds.append(rng.choice([account.cppwd, ascii_word(rng), ""]))
        for oldpwd in oldpwds:
            form.add("oldpwd", oldpwd)
        # Any oldpwd that could be read as the right one counts as right.
        right = any(o is not None and o.strip().upper() == account.cppwd for o in oldpwds)
        for newpwd in newpwd_values(rng, account, right):
            form.add("newpwd", newpwd)
        return
    form.add("cppwd", cppwd_value(rng, account, limits))
    if endpoint == "mt":
        form.add("phone", phone_value(rng, limits))
        form.add("msgtext", msgtext_value(rng, limits))
        form.add("encode", encode_value(rng))
    if rng.random() < 0.08:
        duplicate(rng, form, account)


@dataclass(frozen=True, slots=True)
class Framed:
    data: bytes
    keep_alive: bool  # the request leaves the connection open after its answer
    continues: bool  # it asks for 100 Continue, as HTTP/1.1
    http10: bool


def frame(
    rng: random.Random,
    method: bytes,
    target: bytes,
    body: bytes | None,
    content_type: bytes | None = FORM,
    close: bool | None = None,
) -> Framed:
    """An HTTP/1.x request around a target and a body."""
    http10 = rng.random() < 0.1
    headers = []
    if rng.random() < 0.95:
        headers.append(b"Host: " + rng.choice([b"sms", b"127.0.0.1:8080", b"api.esms100.com:8080"]))
    if rng.random() < 0.3:
        headers.append(b"User-Agent: " + rng.choice([b"Java/1.6.0_45", b"PHP", b"curl/7.29.0"]))
    if close is None:
        close = rng.random() < 0.3
    if close:
        headers.append(b"Connection: close")
        keep_alive = False
    elif http10:
        keep_alive = rng.random() < 0.5
        if keep_alive:
            headers.append(b"Connection: keep-alive")
    else:
        keep_alive = True
    expect = False
    if body is not None:
        if content_type:
            headers.append(b"Content-Type: " + content_type)
        if not http10 and rng.random() < 0.15:
            headers.append(b"Transfer-Encoding: chunked")
            body = chunked(rng, body)
        else:
            headers.append(b"Content-Length: %d" % len(body))
        if rng.random() < 0.1:
            headers.append(b"Expect: 100-continue")
            expect = True
    rng.shuffle(headers)
    version = b"HTTP/1.0" if http10 else b"HTTP/1.1"
    head = b"%s %s %s\r\n%s\r\n" % (method, target, version, b"".join(h + b"\r\n" for h in headers))
    # HTTP/1.0 knows no 100 Continue: it must not get one.
    return Framed(head + (body or b""), keep_alive, expect and not http10, http10)


def chunked(rng: random.Random, body: bytes) -> bytes:
    out = []
    at = 0
    while at < len(body):
        size = min(len(body) - at, rng.randint(1, max(1, len(body) // rng.randint(1, 4))))
        out.append(b"%x\r\n%s\r\n" % (size, body[at : at + size]))
        at += size
    return b"".join(out) + b"0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ParamRequest:
    data: bytes
    request: Request
    keep_alive: bool
    oversize: bool


def param_request(
    rng: random.Random, account: Account, limits: TargetLimits, close: bool | None = None
) -> ParamRequest:
    """One esms100 request with odd fields, and the codes its answer may carry."""
    endpoint = rng.choices(list(ENDPOINT_WEIGHTS), list(ENDPOINT_WEIGHTS.values()))[0]
    post = rng.random() < 0.35
    form = Form(rng, post, in_body_only=post and rng.random() < 0.5)
    fields_for(rng, form, endpoint, account, limits)
    form.extras()
    query, body = form.encoded()
    path = f"/{endpoint}/" if rng.random() < 0.85 else f"/{endpoint}"
    target = path.encode("ascii") + (b"?" + query if query or rng.random() < 0.1 else b"")
    unsure = False
    content_type: bytes | None = FORM
    if post and rng.random() < 0.15:
        content_type = rng.choice(OTHER_CONTENT_TYPES)
        unsure = not content_type.startswith(FORM)
    framed = frame(
        rng, b"POST" if post else b"GET", target, body if post else None, content_type, close
    )
    # The request line is read with raw 8-bit bytes escaped: three bytes each.
    line = len(target) + 2 * len(target.translate(None, _ASCII))
    size = max(line, len(body) if post else 0)
    oversize = size > limits.max_body_bytes
    codes = expected_codes(
        endpoint,
        form.meanings,
        account,
        limits,
        oversize=oversize,
        unsure=unsure or abs(size - limits.max_body_bytes) < 64,
    )
    request = Request(
        endpoint,
        codes=codes,
        answered=True,
        continues=framed.continues,
        http10=framed.http10,
        keep_alive=framed.keep_alive,
    )
    return ParamRequest(framed.data, request, framed.keep_alive and not oversize, oversize)


def param_case(
    rng: random.Random, seed: int, index: int, account: Account, limits: TargetLimits
) -> Case:
    made = param_request(rng, account, limits)
    request = made.request
    # A new connection may be refused (503) when the port is full.
    request = replace(request, statuses=frozenset({200, 503}))
    return Case(
        seed,
        index,
        f"param/{request.endpoint}",
        split_writes(rng, made.data, pause_s=rng.choice([0.0, 0.001, 0.01])),
        (request,),
        answers=1 if made.keep_alive else None,
        shares_connection=made.keep_alive,
    )
