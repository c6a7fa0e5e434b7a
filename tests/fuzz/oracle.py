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

from enum import Enum

from tests.e2e.legacy_client import REPLY_RECORD, REPORT_LINE
from tests.fuzz.answers import Answer
from tests.fuzz.case import CLOSING, HTTP_ERRORS, Case, Request
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


def judge(case: Case, answers: list[Answer], ending: Ending, within_s: float) -> list[str]:
    """The faults in what a case got; none when all is well."""
    faults: list[str] = []
    final = [a for a in answers if not 100 <= a.status < 200]
    for interim in (a for a in answers if 100 <= a.status < 200):
        if interim.status != 100 or not case.expect_continue:
            faults.append(f"interim answer {interim.status} to a request that did not ask for one")
    closed_by: Answer | None = None
    for i, answer in enumerate(final):
        if closed_by is not None:
            faults.append(f"answer {i} ({answer}) after a closing {closed_by.status}")
            break
        request = case.requests[i] if i < len(case.requests) else None
        statuses = request.statuses if request is not None else CLOSING
        if answer.status >= 500 and answer.status != 503:
            faults.append(f"answer {i}: HTTP {answer.status} {answer.body[:300]!r}")
            continue
        if answer.status not in statuses:
            faults.append(f"answer {i}: HTTP {answer.status} where {sorted(statuses)} may come")
            continue
        head = request is not None and request.head
        if answer.status == 200 and request is not None and not head:
            fault = judge_body(request, answer.body)
            if fault is not None:
                faults.append(f"answer {i}: {fault}")
        if answer.status == 503 and not head and answer.body != b"-15":
            faults.append(f"answer {i}: 503 with {answer.body[:100]!r}, not -15")
        if answer.status in CLOSING:
            closed_by = answer
            if not answer.closes:
                faults.append(f"answer {i}: {answer.status} without Connection: close")
        elif answer.status not in HTTP_ERRORS | {200}:
            faults.append(f"answer {i}: HTTP {answer.status}")
    if case.hangup:
        return faults
    if ending is Ending.TIMEOUT:
        faults.append(
            f"{len(final)} answers, then neither an answer nor an end in {within_s:.1f} s"
        )
    elif closed_by is not None and ending is not Ending.EOF:
        faults.append(f"after a closing {closed_by.status}: {ending.value}")
    if case.requests and case.requests[0].answered and not final:
        faults.append(f"no answer: {ending.value}")
    return faults
