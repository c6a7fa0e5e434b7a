"""Carry an adapter's requests over HTTP; translate every foreign error here.

Above this module nobody sees ``aiohttp.ClientError`` or
``asyncio.TimeoutError``: a failure becomes a :class:`TransportFailure` with
its outcome.  The line we draw: if the request can not have reached the
vendor (connection refused, DNS, TLS handshake, connect time-out) the outcome
is UNREACHABLE and a send may safely go elsewhere; once bytes have left, a
time-out or a reset is AMBIGUOUS, because the vendor may have sent the SMS.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from adapters.base import HttpRequest, HttpResponse
from routing.outcome import Outcome

# Bodies larger than this are not a vendor answer we could use.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TransportFailure:
    outcome: Outcome  # UNREACHABLE or AMBIGUOUS
    reason: str  # short, bounded: used as a metric label and a log field


class VendorTransport:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        connect_timeout_s: float,
        timeout_s: float,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._urls: dict[str, URL] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=connect_timeout_s + timeout_s, sock_connect=connect_timeout_s
        )

    def __repr__(self) -> str:
        return f"<VendorTransport {self._base} timeout={self._timeout.total}s>"

    async def exchange(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        if request.query:
            url = URL(f"{self._base}{request.path}?{request.query}", encoded=True)
        else:
            # Parsing a URL costs more than the rest of building the request,
            # and a POST send's URL never changes.
            url = self._urls.get(request.path) or self._urls.setdefault(
                request.path, URL(self._base + request.path, encoded=True)
            )
        headers = {"Content-Type": request.content_type} if request.content_type else None
        try:
            async with self._session.request(
                request.method,
                url,
                data=request.body or None,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.content.read(MAX_RESPONSE_BYTES)
                return HttpResponse(resp.status, body, resp.headers.get("Content-Type", ""))
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            return TransportFailure(Outcome.UNREACHABLE, _reason(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return TransportFailure(Outcome.AMBIGUOUS, _reason(exc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connect_timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected"
    return "transport_error"
