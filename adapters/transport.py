"""Carry an adapter's requests over HTTP; translate every foreign error here.

Above this module nobody sees :mod:`adapters.http`'s exceptions or
``asyncio.TimeoutError``: a failure becomes a :class:`TransportFailure` with
its outcome.  The line we draw is the request's first byte: if it was
never written (connection refused, DNS, TLS handshake, connect time-out, no
free pooled connection in time, the first write failing) the outcome is
UNREACHABLE and a send may safely go elsewhere; once bytes have left, a
time-out or a reset is AMBIGUOUS, because the vendor may have sent the SMS.
A certificate that does not verify is REFUSED: nothing was sent either, but
it is a configuration fault (a wrong host or trust store), not an outage.
So is an egress proxy's refusal to carry the request (a 4xx: its
credentials, ``proxy_auth``, or its rules, ``proxy_denied``); its 5xx says it
could not reach the vendor (UNREACHABLE, ``proxy_failed``).

``timeout_s`` bounds the whole exchange, the wait for a connection and the
connect included; ``connect_timeout_s`` bounds the connect within it.  A
vendor that hangs costs ``timeout_s``, never more.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.http.client import VendorHttp
from adapters.http.errors import (
    ConnectError,
    ConnectTimeout,
    Disconnected,
    HttpError,
    InvalidRequest,
    NotSent,
    ProxyRefused,
    ResponseTimeout,
    TlsVerifyError,
)
from config.egress import EgressProxy
from config.vendor import VendorSettings
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class TransportFailure:
    # UNREACHABLE or AMBIGUOUS; REFUSED for a certificate that does not
    # verify; REQUEST_INVALID for a request of ours that could not be put on
    # the wire (the same as an adapter's build error).
    outcome: Outcome
    reason: str  # short, bounded: used as a metric label and a log field


class VendorTransport:
    def __init__(
        self,
        http: VendorHttp,
        base_url: str,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        proxy: EgressProxy | None = None,
        use_env_proxy: bool = True,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._origin, self._prefix = http.origin(
            self._base, proxy=proxy, use_env_proxy=use_env_proxy
        )
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        # A send's method, path and content type never change: their head is built once.
        self._heads: dict[tuple[str, str, str | None], bytes] = {}

    @classmethod
    def for_vendor(cls, http: VendorHttp, vs: VendorSettings) -> VendorTransport:
        """The transport a vendor's settings describe: its URL, time-outs and egress."""
        return cls(
            http,
            vs.base,
            connect_timeout_s=vs.connect_timeout_s,
            timeout_s=vs.timeout_s,
            proxy=vs.egress_proxy,
            use_env_proxy=vs.use_env_proxy,
        )

    def __repr__(self) -> str:
        return (
            f"<VendorTransport {self._base} timeout={self._timeout_s}s "
            f"connect_timeout={self._connect_timeout_s}s>"
        )

    async def exchange(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        body = request.body
        try:
            if request.query:
                head = self._origin.head(
                    request.method,
                    f"{self._prefix}{request.path}?{request.query}",
                    request.content_type,
                )
            else:
                key = (request.method, request.path, request.content_type)
                head = self._heads.get(key) or self._heads.setdefault(
                    key,
                    self._origin.head(
                        request.method, self._prefix + request.path, request.content_type
                    ),
                )
        except InvalidRequest:
            return TransportFailure(Outcome.REQUEST_INVALID, "build_error")
        if body or request.method != "GET":
            data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        else:
            data = head + b"\r\n"
        try:
            return await self._origin.request(data, self._connect_timeout_s, self._timeout_s)
        except ConnectTimeout:
            return TransportFailure(Outcome.UNREACHABLE, "connect_timeout")
        except TlsVerifyError:
            return TransportFailure(Outcome.REFUSED, "tls_verify")
        except ProxyRefused as exc:
            return proxy_refused(exc.status)
        except NotSent:
            return TransportFailure(Outcome.UNREACHABLE, "write_error")
        except ConnectError:
            return TransportFailure(Outcome.UNREACHABLE, "connect_error")
        except ResponseTimeout:
            return TransportFailure(Outcome.AMBIGUOUS, "timeout")
        except Disconnected:
            return TransportFailure(Outcome.AMBIGUOUS, "disconnected")
        except HttpError:
            return TransportFailure(Outcome.AMBIGUOUS, "transport_error")


def proxy_refused(status: int) -> TransportFailure:
    """What an egress proxy's refusal means: nothing reached the vendor either way."""
    if status in (401, 407):
        # tinyproxy answers a CONNECT with wrong credentials 401, not 407.
        return TransportFailure(Outcome.REFUSED, "proxy_auth")
    if status >= 500:
        return TransportFailure(Outcome.UNREACHABLE, "proxy_failed")
    return TransportFailure(Outcome.REFUSED, "proxy_denied")
