"""What a vendor's HTTP status says before its body is read: one table for every adapter.

The vendors' documents define their answers only as their own codes in a
``200`` answer; a status outside 2xx comes from the vendor's web server or
gateway, or from its application failing, and means the same for every
vendor:

* ``429``: slow down (RATE_LIMITED).
* ``401``: our credentials are refused (AUTH_FAILED); ``403``: our address
  is (IP_REJECTED).  Both are configuration faults.
* any other 4xx (``404`` and ``405`` above all: a wrong ``base_url``): the
  request was refused as such and not acted on (REFUSED, a configuration
  fault too).
* 5xx, ``500`` included: the vendor failed and did not take the request
  (VENDOR_BUSY).  A ``500`` is the vendor's application saying it failed;
  acceptance is only ever a vendor code in a 2xx answer.
* 3xx: we follow no redirects, and a ``303`` may follow a POST that was
  acted on, so a send is AMBIGUOUS and a balance query or poll VENDOR_BUSY,
  both malformed: a redirect is not an answer we understand.

A balance query or a poll has no side effect, so the same statuses give the
same outcomes there, and where a send would be AMBIGUOUS they are VENDOR_BUSY.
The raw code for logs and metrics is ``http_<status>``.  Every adapter's
``parse_*`` starts with :func:`send_status`, :func:`balance_status` or
:func:`poll_status` and reads the body only when that returns None.
"""

from __future__ import annotations

from typing import NamedTuple

from adapters.base import BalanceResult, PollResult
from core.outcome import Outcome
from core.send import HttpResponse, SendResult


class StatusVerdict(NamedTuple):
    outcome: Outcome
    raw_code: str
    malformed: bool = False


def classify_status(status: int, *, side_effect: bool) -> StatusVerdict | None:
    """None for a 2xx answer, whose body the adapter reads; else what the status means.

    ``side_effect`` is True for a send, which the vendor may have acted on.
    """
    if 200 <= status < 300:
        return None
    raw = f"http_{status}"
    if status >= 500:
        return StatusVerdict(Outcome.VENDOR_BUSY, raw)
    if status == 429:
        return StatusVerdict(Outcome.RATE_LIMITED, raw)
    if status == 401:
        return StatusVerdict(Outcome.AUTH_FAILED, raw)
    if status == 403:
        return StatusVerdict(Outcome.IP_REJECTED, raw)
    if 400 <= status < 500:
        return StatusVerdict(Outcome.REFUSED, raw)
    return StatusVerdict(Outcome.AMBIGUOUS if side_effect else Outcome.VENDOR_BUSY, raw, True)


def send_status(response: HttpResponse) -> SendResult | None:
    verdict = classify_status(response.status, side_effect=True)
    if verdict is None:
        return None
    return SendResult(verdict.outcome, verdict.raw_code, malformed=verdict.malformed)


def balance_status(response: HttpResponse) -> BalanceResult | None:
    verdict = classify_status(response.status, side_effect=False)
    if verdict is None:
        return None
    return BalanceResult(verdict.outcome, verdict.raw_code, malformed=verdict.malformed)


def poll_status(response: HttpResponse) -> PollResult | None:
    verdict = classify_status(response.status, side_effect=False)
    if verdict is None:
        return None
    return PollResult(verdict.outcome, verdict.raw_code, malformed=verdict.malformed)
