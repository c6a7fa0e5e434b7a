"""What the daemon may answer a case, and what it may not.

Each answer is ``200`` with a body the esms100 document allows for its
endpoint (a code from the table, a balance for ``/qamount/``, the list
formats of ``/qreport/`` and ``/mo/``), never ``-110``; or one of the HTTP
errors the legacy port documents (400, 404, 405, 408, 413, 431, 503 with
``-15``), never another 5xx.  A closing error is the connection's last
answer, and the connection then ends.  A ``100 Continue`` comes only to a
request that asked for it.  A case the client ends properly gets its
answer within the run's bound: no hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from proxy.http.connection import LINGER_S
from tests.e2e.legacy_client import REPLY_RECORD, REPORT_LINE
from tests.fuzz.answers import Answer
from tests.fuzz.case import CLOSING, Case, Request
from tests.fuzz.expect import TABLE


class Ending(Enum):
    EOF = "the daemon closed the connection"
    ENOUGH = "the answers the case awaits came, and the connection stays open"
    TIMEOUT = "no answer or end within the bound"
    RESET = "the connection was reset"
    HUNG_UP = "the client hung up"


def answer_code(endpoint: str, body: bytes) -> int | None:
    """The code a 200 body carries for ``endpoint`` (0: its success answer); None: not valid."""
    try:
        text = body.decode("gbk")
    except UnicodeDecodeError:
        return None
    if text.startswith("-"):
        # A code: a negative integer from the endpoint's table, never -110.
        if not text[1:].isascii() or not text[1:].isdigit():
            return None
        code = int(text)
        return code if code in TABLE[endpoint] else None
    if endpoint in ("mt", "ent"):
        return 0 if text == "0" else None
    if endpoint == "qamount":
        return 0 if text.isascii() and text.isdigit() else None
    if endpoint == "qreport":
        lines = text.split("\n")
        if lines[0] != str(len(lines) - 1):
            return None
        return 0 if all(REPORT_LINE.match(line) for line in lines[1:]) else None
    # /mo/: a count line, then records joined by "||"; "0" when there are none.
    if text == "0":
        return 0
    head, sep, rest = text.partition("\n")
    records = rest.split("||")
    if not sep or head != str(len(records)):
        return None
    return 0 if all(REPLY_RECORD.match(r) for r in records) else None


def handed_out(endpoint: str, body: bytes) -> list[str]:
    """The report lines or reply records a valid 200 body of /qreport/ or /mo/ hands out."""
    if endpoint not in ("qreport", "mo") or answer_code(endpoint, body) != 0:
        return []
    rest = body.decode("gbk").partition("\n")[2]
    if not rest:
        return []
    return rest.split("\n") if endpoint == "qreport" else rest.split("||")


def judge_body(request: Request, body: bytes) -> str | None:
    """Why a 200 body is wrong for the request, or None."""
    endpoints = [request.endpoint] if request.endpoint else list(TABLE)
    for endpoint in endpoints:
        code = answer_code(endpoint, body)
        if code is None:
            continue
        if request.codes is not None and code not in request.codes:
            return f"/{endpoint}/ answered {body[:100]!r}; its fields allow {sorted(request.codes)}"
        return None
    where = f"/{request.endpoint}/" if request.endpoint else "any endpoint"
    return f"{body[:300]!r} is not an answer of {where}"


@dataclass(frozen=True, slots=True)
class Exchange:
    """What came back for a case, and when (seconds since its first write)."""

    answers: list[Answer]
    ending: Ending
    within_s: float  # the bound an answer or an end had, beyond the case's pauses
    arrivals: list[float] = field(default_factory=list)  # of each answer
    ended_s: float = 0.0  # when the ending came
    timeout_s: float = 0.0  # the target's shortest head or body time-out

    def late(self, seconds: float) -> bool:
        """Whether this came after the target's time-out: the daemon may have waited it out."""
        return seconds >= self.timeout_s > 0


def judge(case: Case, got: Exchange) -> list[str]:
    """The faults in what a case got; none when all is well.

    On a loaded machine a client's writes lag and a daemon's loop may be held
    up, so what a daemon does when its time-out ran out (a 408, closing a
    connection it heard nothing on, closing after its linger) is no fault
    when it came after that time-out; sooner, it is.
    """
    faults: list[str] = []
    final: list[Answer] = []
    continued: set[int] = set()
    closed_by: Answer | None = None
    for n, answer in enumerate(got.answers):
        i = len(final)
        request = case.requests[i] if i < len(case.requests) else None
        if 100 <= answer.status < 200:
            # Only to a request that asked, as HTTP/1.1, once, and in its turn:
            # never ahead of the answer to a request before it.
            asked = case.expect_continue or (request is not None and request.continues)
            if answer.status != 100 or not asked or i in continued:
                faults.append(f"interim answer {answer.status} before answer {i}, unasked")
            continued.add(i)
            continue
        final.append(answer)
        if closed_by is not None:
            faults.append(f"answer {i} ({answer}) after a closing {closed_by.status}")
            break
        arrived = got.arrivals[n] if n < len(got.arrivals) else 0.0
        faults += _judge_answer(i, request, answer, timed_out=got.late(arrived))
        if answer.status in CLOSING:
            closed_by = answer
    if case.hangup:
        return faults
    ending = got.ending
    if ending is Ending.TIMEOUT:
        faults.append(
            f"{len(final)} answers, then neither an answer nor an end in {got.within_s:.1f} s"
        )
    elif closed_by is not None and ending is not Ending.EOF:
        # A reset after the linger: the client was still writing when it ran out.
        lingered = ending is Ending.RESET and got.ended_s >= LINGER_S
        if not lingered:
            faults.append(f"after a closing {closed_by.status}: {ending.value}")
    if case.requests and case.requests[0].answered and not final and not got.late(got.ended_s):
        faults.append(f"no answer: {ending.value} after {got.ended_s:.2f} s")
    return faults


def _judge_answer(
    i: int, request: Request | None, answer: Answer, timed_out: bool = False
) -> list[str]:
    statuses = request.statuses if request is not None else CLOSING
    if timed_out:
        statuses = statuses | {408}
    if answer.status >= 500 and answer.status != 503:
        return [f"answer {i}: HTTP {answer.status} {answer.body[:300]!r}"]
    if answer.status not in statuses:
        return [f"answer {i}: HTTP {answer.status} where {sorted(statuses)} may come"]
    faults = []
    head = request is not None and request.head
    if answer.status == 200 and request is not None and not head:
        fault = judge_body(request, answer.body)
        if fault is not None:
            faults.append(f"answer {i}: {fault}")
    if answer.status == 503 and not head and answer.body != b"-15":
        faults.append(f"answer {i}: 503 with {answer.body[:100]!r}, not -15")
    if answer.status in CLOSING and not answer.closes:
        faults.append(f"answer {i}: {answer.status} without Connection: close")
    if request is not None and not request.keep_alive and not answer.closes:
        faults.append(f"answer {i}: the request asked to close, the answer keeps the connection")
    # An HTTP/1.0 client closes unless told to keep the connection.
    says_keep_alive = b"keep-alive" in [v.lower() for v in answer.header(b"connection")]
    if request is not None and request.http10 and not answer.closes and not says_keep_alive:
        faults.append(f"answer {i} to HTTP/1.0 keeps the connection without saying keep-alive")
    return faults
