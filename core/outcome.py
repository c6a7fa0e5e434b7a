"""What a vendor attempt means, whatever the vendor's own code was.

Every vendor code, HTTP status and transport error maps to exactly one
:class:`Outcome`.  Routing and vendor health branch on outcomes only; the
vendor's raw code travels beside it for logs and metrics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    BALANCE_EXHAUSTED = "balance_exhausted"
    RATE_LIMITED = "rate_limited"
    IP_REJECTED = "ip_rejected"
    AUTH_FAILED = "auth_failed"
    CONTENT_REJECTED = "content_rejected"
    RECIPIENT_INVALID = "recipient_invalid"
    REQUEST_INVALID = "request_invalid"
    # The vendor refused the request itself (an HTTP 4xx other than 401, 403
    # and 429, a certificate we can not verify): not sent.  A configuration
    # fault, a wrong base_url say, that resending to this vendor will not heal.
    REFUSED = "refused"
    VENDOR_BUSY = "vendor_busy"
    UNREACHABLE = "unreachable"
    AMBIGUOUS = "ambiguous"


class VendorEffect(enum.Enum):
    """What an outcome does to the vendor's standing with the router."""

    NONE = "none"
    DRAIN = "drain"  # no money: routable again once a balance check shows some
    BACK_OFF = "back_off"  # short pause, the vendor asked us to slow down
    # Our credentials, IP, URL or trust store are wrong: long, growing ejection.
    EJECT_CONFIG = "eject_config"
    FAILURE = "failure"  # counts toward outlier ejection


@dataclass(frozen=True, slots=True)
class Decision:
    fail_over: bool
    effect: VendorEffect


# The design notes' outcome table.  CONTENT_REJECTED fails over by default
# because vendors' sensitive-word lists differ; a rule may turn that off.
DECISIONS: dict[Outcome, Decision] = {
    Outcome.ACCEPTED: Decision(False, VendorEffect.NONE),
    Outcome.BALANCE_EXHAUSTED: Decision(True, VendorEffect.DRAIN),
    Outcome.RATE_LIMITED: Decision(True, VendorEffect.BACK_OFF),
    Outcome.IP_REJECTED: Decision(True, VendorEffect.EJECT_CONFIG),
    Outcome.AUTH_FAILED: Decision(True, VendorEffect.EJECT_CONFIG),
    Outcome.CONTENT_REJECTED: Decision(True, VendorEffect.NONE),
    Outcome.RECIPIENT_INVALID: Decision(False, VendorEffect.NONE),
    Outcome.REQUEST_INVALID: Decision(False, VendorEffect.NONE),
    Outcome.REFUSED: Decision(True, VendorEffect.EJECT_CONFIG),
    Outcome.VENDOR_BUSY: Decision(True, VendorEffect.FAILURE),
    Outcome.UNREACHABLE: Decision(True, VendorEffect.FAILURE),
    Outcome.AMBIGUOUS: Decision(False, VendorEffect.FAILURE),
}


def decide(outcome: Outcome) -> Decision:
    return DECISIONS[outcome]
