"""A fuzz case: the bytes a client writes on one connection, and what may come back.

A case is made from ``(seed, index)`` alone, with a ``random.Random`` of its
own, so any case of a run can be made again without the others.  What the
case knows of its requests (their endpoints, whether they are ``HEAD``,
which answer codes its fields allow) is what the oracle judges against.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from adapters.esms100.wire import password_digest

ENDPOINTS = ("mt", "qamount", "qreport", "mo", "ent")

# Answers an HTTP request may get from the legacy port (proxy/http/):
# 200 with an esms100 body, or one of these, never another 5xx.
HTTP_ERRORS = frozenset({400, 404, 405, 408, 413, 431, 503})
# After these the daemon closes the connection: nothing more may be answered.
CLOSING = frozenset({400, 408, 413, 431, 503})


@dataclass(frozen=True, slots=True)
class Account:
    """The client the cases log in as; its password must stay what it is."""

    cpid: str
    password: str

    @property
    def cppwd(self) -> str:
        return password_digest(self.password)


@dataclass(frozen=True, slots=True)
class TargetLimits:
    """The target's settings the cases are made around.

    Slow cases straddle the ``[http]`` time-outs; huge fields are made well
    below or well beyond ``legacy.max_body_bytes`` and the text and number
    limits, so the codes they must get are known.
    """

    head_timeout_s: float = 1.0
    body_timeout_s: float = 1.0
    keepalive_s: float = 2.0
    max_body_bytes: int = 256 * 1024
    max_text_chars: int = 134
    max_numbers: int = 1000


@dataclass(frozen=True, slots=True)
class Request:
    """One request a case's bytes hold, as far as the case can tell."""

    endpoint: str | None  # "mt", …; None: not one we can name (any endpoint's answer will do)
    head: bool = False  # HEAD: its answer has no body
    # esms100 codes its fields allow (the endpoint's table narrowed), None: the whole table.
    codes: frozenset[int] | None = None
    statuses: frozenset[int] = frozenset({200}) | HTTP_ERRORS
    # The client ends it properly: an answer must come (if only a 408), or a 503.
    answered: bool = False
    continues: bool = (
        False  # it asked for 100 Continue, as HTTP/1.1: one may come before its answer
    )
    http10: bool = False  # an answer that keeps the connection must say so (keep-alive)
    keep_alive: bool = True  # False: it asked to close, and its answer must close


@dataclass(frozen=True, slots=True)
class Write:
    data: bytes
    pause_s: float = 0.0  # before it is written


@dataclass(frozen=True, slots=True)
class Case:
    seed: int
    index: int
    label: str  # what kind of case, e.g. "param/mt/post-form" or "raw/bad-chunked"
    writes: tuple[Write, ...]
    # The requests in the bytes, in order; answers beyond them may only be a
    # closing error (400 for what follows), never a 200.
    requests: tuple[Request, ...]
    # Stop reading after this many answers when the last keeps the connection
    # open (the connection may then carry the next case); None: read to EOF.
    answers: int | None = None
    hangup: bool = False  # the client closes after its last write, reading nothing
    reset: bool = False  # … and closes with a reset rather than a FIN
    # A 100 Continue may come before any answer (the case cannot tell which request asked).
    expect_continue: bool = False
    # Its writes take this long: the answer is awaited beyond it.
    takes_s: float = 0.0
    # It may run on a connection an earlier case kept open, and keep it for the next.
    shares_connection: bool = False

    @property
    def raw(self) -> bytes:
        return b"".join(w.data for w in self.writes)

    def describe(self) -> str:
        pauses = [round(w.pause_s, 3) for w in self.writes]
        return (
            f"seed {self.seed} case {self.index} ({self.label}); replay with"
            f" `python -m tests.fuzz --seed {self.seed} --case {self.index}`\n"
            f"  writes: {len(self.writes)}, pauses {pauses[:20]}{' …' if len(pauses) > 20 else ''}"
            f"{', then the client hangs up' if self.hangup else ''}\n"
            f"  bytes ({len(self.raw)}): {self.raw[:4000]!r}{' …' if len(self.raw) > 4000 else ''}"
        )


def split_writes(rng: random.Random, data: bytes, pause_s: float = 0.0) -> tuple[Write, ...]:
    """``data`` in a few pieces cut at random places: the parser must not care."""
    if len(data) < 2 or rng.random() < 0.7:
        return (Write(data),)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
    bounds = [0, *cuts, len(data)]
    return tuple(
        Write(data[a:b], pause_s if i else 0.0)
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    )
