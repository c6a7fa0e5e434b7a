"""Which egress proxy a vendor call goes through: its vendor's ``proxy_url``, or the environment's.

Vendors whitelist the addresses our calls come from, so a company sends
them through a fixed egress proxy.  A vendor's own ``proxy_url`` wins;
without one, ``HTTPS_PROXY`` / ``HTTP_PROXY`` (the lower-case forms
preferred, as curl and Python's urllib do) apply to its ``https`` / ``http``
URL, unless ``NO_PROXY`` names its host, or the vendor sets
``use_env_proxy = false``.

Only ``http://`` proxies: a vendor's ``https`` goes through them in a
``CONNECT`` tunnel, so TLS is end to end with the vendor either way.  A
proxy URL may carry ``user:password@``; it is a secret, so no message here
ever shows the URL, and an :class:`EgressProxy` shows only host and port.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_FORM = "http://[user:password@]host:port"


class ProxyEnvironmentError(ValueError):
    """A proxy variable in the environment we cannot use; names it, never its value."""


@dataclass(frozen=True, slots=True, repr=False)
class EgressProxy:
    host: str
    port: int
    # The whole Proxy-Authorization value (b"Basic ..."): a secret, never in repr.
    authorization: bytes | None = None

    def __repr__(self) -> str:
        credentials = " with credentials" if self.authorization is not None else ""
        return f"<EgressProxy {self.address}{credentials}>"

    @property
    def address(self) -> str:
        """``host:port``, for logs and errors: never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_proxy_url(url: str, *, bare_authority: bool = False) -> EgressProxy:
    """``http://[user:password@]host[:port]`` (port 80 when left out).

    ``bare_authority`` takes ``host:port`` without a scheme as ``http://``,
    as the environment's variables are often written.  The ``ValueError``
    never quotes ``url``: it may hold a password.
    """
    text = url.strip()
    if bare_authority and "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"not a proxy URL: expected {_FORM}") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        # TLS to the proxy itself; the vendor's own TLS is end to end through CONNECT.
        raise ValueError(
            f"an https:// proxy is not supported: expected {_FORM};"
            " https vendors go through an http:// proxy in a CONNECT tunnel"
        )
    if scheme != "http":
        # Not naming what was found: "user:password@host" parses as scheme "user".
        raise ValueError(f"only http:// proxies are supported: expected {_FORM}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no proxy host: expected {_FORM}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"a proxy URL has no path or query: expected {_FORM}")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    authorization = None
    if parts.username is not None:
        # user:password as URLs carry them: percent-escaped where need be.
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = b"Basic " + base64.b64encode(pair.encode("utf-8"))
    return EgressProxy(host, port or 80, authorization)


@dataclass(frozen=True, slots=True)
class _Bypass:
    """One ``NO_PROXY`` entry: a domain (and its subdomains) or a network, maybe one port."""

    domain: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None

    def matches(
        self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int
    ) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and address in self.network
        assert self.domain is not None
        return host == self.domain or host.endswith("." + self.domain)


def _bypass(entry: str) -> _Bypass | None:
    """What one comma-separated ``NO_PROXY`` entry means; None for an empty one."""
    name, port = entry, None
    if name.startswith("["):  # [v6] or [v6]:port
        end = name.find("]")
        if end < 0:
            return None
        name, rest = name[1:end], name[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif name.count(":") == 1:  # host:port; a bare v6 address has more colons
        name, _, after = name.partition(":")
        if not after.isdigit():
            return None  # not a port: matches nothing rather than too much
        port = int(after)
    try:
        return _Bypass(None, ipaddress.ip_network(name, strict=False), port)
    except ValueError:
        pass
    # ".example.com" and "*.example.com" mean what "example.com" means, as in urllib.
    domain = name.lstrip("*").lstrip(".").rstrip(".")
    return _Bypass(domain, None, port) if domain else None


@dataclass(frozen=True, slots=True)
class ProxyEnvironment:
    """``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` as the process started with them."""

    http: EgressProxy | None = None
    https: EgressProxy | None = None
    bypass_all: bool = False
    bypass: tuple[_Bypass, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxyEnvironment:
        """Read once at start: a request never looks at the environment.

        Raises :class:`ProxyEnvironmentError` for a proxy URL we cannot use,
        rather than sending around the proxy.
        """
        no_proxy = (_variable(environ, "no_proxy") or "").strip().lower()
        entries = [entry.strip() for entry in no_proxy.split(",")]
        bypass = tuple(b for entry in entries if entry and (b := _bypass(entry)) is not None)
        return cls(
            http=_proxy(environ, "http_proxy"),
            https=_proxy(environ, "https_proxy"),
            bypass_all="*" in entries,
            bypass=bypass,
        )

    def __repr__(self) -> str:
        return (
            f"<ProxyEnvironment http={self.http!r} https={self.https!r}"
            f" no_proxy={'*' if self.bypass_all else len(self.bypass)}>"
        )

    def proxy_for(self, scheme: str, host: str, port: int) -> EgressProxy | None:
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.bypasses(host, port):
            return None
        return proxy

    def bypasses(self, host: str, port: int) -> bool:
        if self.bypass_all:
            return True
        host = host.lower().strip("[]").rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        return any(b.matches(host, address, port) for b in self.bypass)


def _variable(environ: Mapping[str, str], name: str) -> str | None:
    # Lower case first, as curl and urllib: an empty one unsets the upper-case one.
    if name in environ:
        return environ[name] or None
    return environ.get(name.upper()) or None


def _proxy(environ: Mapping[str, str], name: str) -> EgressProxy | None:
    value = _variable(environ, name)
    if value is None:
        return None
    try:
        return parse_proxy_url(value, bare_authority=True)
    except ValueError as exc:
        shown = name if name in environ else name.upper()
        raise ProxyEnvironmentError(f"environment variable {shown}: {exc}") from None
