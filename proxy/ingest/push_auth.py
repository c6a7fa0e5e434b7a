"""Who may push: every vendor push is authenticated before anything of it is stored.

The push port faces the internet, and a push becomes a client's delivery
report or reply, so a forged one misleads a real client.  A push passes, in
this order:

1. ``address``: the peer is in the vendor's ``push_allowed_ips``, when set;
2. ``token``: the path's last segment (``/push/<name>/<token>``) is the
   vendor's ``push_token`` when one is set, compared in constant time; a
   token where none is configured is refused too;
3. ``unconfigured``: a vendor whose pushes carry no secret of their own
   (sms10000's eprId/userId and sms.cn's uid are account names; chuanglan's
   ``pswd`` is one only when ``report_password`` is set) has neither of the
   above set, so nothing tells its pushes from a forger's;
4. then the adapter reads the push and checks what the vendor's document
   gives (sms10000's eprId/userId, sms.cn's uid, chuanglan's
   receiver/pswd): it refuses with HTTP 401/403 as ``account``, any other
   refusal is ``malformed``.

A refused push gets the vendor's own failure answer (its adapter's
``push_refused`` for 1-3, the adapter's answer for 4), so a genuine push
refused by a configuration mistake is pushed again once it is fixed, and
is never stored.

Nothing here knows the HTTP server: the receiver passes the vendor's
settings, the adapter, the token segment (None for ``/push/<name>``) and
the peer address, then the adapter's :class:`PushResult`.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address

import structlog

from adapters.base import PushResult
from config.vendor import VendorSettings
from core.send import HttpResponse

log = structlog.get_logger("smsproxy.push")

# The answer for a vendor whose adapter names no refusal of its own.
FORBIDDEN = HttpResponse(403, b"forbidden", "text/plain")


class PushRefusal(enum.StrEnum):
    ADDRESS = "address"
    TOKEN = "token"  # noqa: S105 - the reason's name, not a token
    UNCONFIGURED = "unconfigured"
    ACCOUNT = "account"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Refused:
    reason: PushRefusal
    answer: HttpResponse


class PushGate:
    """One vendor's door on the push port."""

    def __init__(self, settings: VendorSettings, refusal: HttpResponse = FORBIDDEN) -> None:
        self.settings = settings
        self.refusal = refusal
        token = settings.push_token
        self._token = None if token is None else token.get_secret_value().encode()

    @classmethod
    def of(cls, settings: VendorSettings, adapter: object) -> PushGate | None:
        """The vendor's gate, or None for a kind that pushes nothing."""
        if not settings.pushes:
            return None
        answer = getattr(adapter, "push_refused", None)
        return cls(settings, answer if isinstance(answer, HttpResponse) else FORBIDDEN)

    def __repr__(self) -> str:
        s = self.settings
        return f"<PushGate {s.name} ips={len(s.push_allowed_ips)} token={self._token is not None}>"

    def admit(self, token: str | None, remote: str) -> Refused | None:
        """Refused before the push is read, or None to read it."""
        if self.settings.push_allowed_ips and not self._allowed(remote):
            return Refused(PushRefusal.ADDRESS, self.refusal)
        if not self._token_ok(token):
            return Refused(PushRefusal.TOKEN, self.refusal)
        if not protected(self.settings):
            return Refused(PushRefusal.UNCONFIGURED, self.refusal)
        return None

    def judge(self, result: PushResult) -> Refused | None:
        """What the adapter made of the push: refused, or None to store it."""
        if result.accepted:
            return None
        not_ours = result.answer.status in (401, 403)
        return Refused(PushRefusal.ACCOUNT if not_ours else PushRefusal.MALFORMED, result.answer)

    def _allowed(self, remote: str) -> bool:
        try:
            address = ip_address(remote)
        except ValueError:
            return False
        # A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d.
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self.settings.push_allowed_ips)

    def _token_ok(self, given: str | None) -> bool:
        if self._token is None:
            return given is None
        return hmac.compare_digest(self._token, (given or "").encode("utf-8", "replace"))


def protected(settings: VendorSettings) -> bool:
    """Whether something tells the vendor's pushes from a forger's."""
    return bool(
        settings.push_secret_configured
        or settings.push_token is not None
        or settings.push_allowed_ips
    )


def unprotected(vendors: Iterable[VendorSettings]) -> list[VendorSettings]:
    """Pushing vendors whose every push is refused (``unconfigured``) until set up."""
    return [v for v in vendors if v.pushes and not protected(v)]


def warn_unprotected(vendors: Iterable[VendorSettings]) -> None:
    """Say once, at start-up, which vendors' pushes will all be refused and what to set."""
    for v in unprotected(vendors):
        options = ["push_token", "push_allowed_ips", *v.push_secret_options]
        log.warning(
            "push_unprotected",
            vendor=v.name,
            kind=getattr(v, "kind", ""),
            set=" or ".join(options),
            why="its pushes carry no secret: every one is refused until one is set",
        )
