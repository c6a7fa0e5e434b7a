"""What one connection may cost, and why a connection or request is refused.

The ``[http]`` and ``[listen]`` settings as the server reads them
(``proxy.serve.connection_limits`` builds them from the settings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

Network = IPv4Network | IPv6Network

# Why a connection or request was refused; told to the server's RefusalHook.
REFUSALS = (
    "connections",
    "head_too_large",
    "head_timeout",
    "body_timeout",
    "bad_request",
    "proxy_header",
)
RefusalHook = Callable[[str], None]


@dataclass(frozen=True)
class Limits:
    """What one connection may cost; the ``[http]`` and ``[listen]`` settings."""

    max_head_bytes: int = 16 * 1024
    head_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    keepalive_s: float = 75.0
    max_connections: int = 4096
    trusted_proxies: tuple[Network, ...] = ()
    proxy_protocol: bool = False

    def trusts(self, address: str) -> bool:
        if not self.trusted_proxies:
            return False
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in net for net in self.trusted_proxies)

    def client_of(self, peer: str, forwarded_for: bytes) -> str:
        """The client an ``X-Forwarded-For`` names: the nearest hop we do not trust."""
        client = peer
        for hop in reversed(forwarded_for.split(b",")):
            if not self.trusts(client):
                break
            try:
                client = str(ip_address(hop.strip().decode("ascii")))
            except (UnicodeDecodeError, ValueError):
                break  # what a trusted hop did not write cannot be read
        return client
