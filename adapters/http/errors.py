"""How a vendor exchange failed: split by whether the request can have reached the peer.

After a :class:`ConnectError` not one byte of the request was written; after
the others bytes left.  :mod:`adapters.transport` turns them into outcomes.
"""

from __future__ import annotations


class HttpError(Exception):
    """An exchange failed: after a :class:`ConnectError` nothing was sent, after the rest
    the request may have reached the peer."""


class ConnectError(HttpError):
    """No connection: nothing was sent (refused, DNS, TLS handshake, pool closed)."""


class TlsVerifyError(ConnectError):
    """The peer's certificate did not verify: nothing was sent, and retrying will not help."""


class NotSent(ConnectError):
    """The connection failed before a byte of the request was written."""


class ConnectTimeout(ConnectError):
    """No connection, or no free pooled one, in time: nothing was sent."""


class ProxyRefused(ConnectError):
    """The egress proxy refused to carry the request (its answer to ``CONNECT``, or
    a ``407`` to a proxied http request): nothing reached the vendor."""

    def __init__(self, status: int, proxy: str, target: str) -> None:
        # The proxy's address only: its credentials are a secret.
        super().__init__(f"proxy {proxy} answered {status} for {target}")
        self.status = status


class ResponseTimeout(HttpError):
    """The request was written and no complete answer came in time."""


class Disconnected(HttpError):
    """The peer closed or reset the connection before a complete answer."""


class ProtocolError(HttpError):
    """The answer was not HTTP we accept: unparseable, or its body too large."""


class InvalidRequest(ValueError):
    """A request target that would not be one line of HTTP; never sent."""
