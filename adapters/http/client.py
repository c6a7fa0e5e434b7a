"""The daemon's HTTP client for vendors: one :class:`~adapters.http.origin.Origin` per origin.

Owned by the daemon (one for all vendor accounts) and closed on shutdown.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from urllib.parse import urlsplit

from adapters.http.origin import Origin
from config.egress import EgressProxy, ProxyEnvironment

DEFAULT_LIMIT_PER_HOST = 200
# Below common servers' keep-alive time-outs (nginx: 75 s); a server that
# closes sooner is seen closing (EOF) and its connection is not reused.
DEFAULT_IDLE_S = 15.0


class VendorHttp:
    """The daemon's HTTP client for vendors; use ``async with`` or :meth:`close`.

    ``environment`` is the proxies of the process's environment, read once
    at start; without it, only a vendor's own proxy is used.
    """

    def __init__(
        self,
        *,
        limit_per_host: int = DEFAULT_LIMIT_PER_HOST,
        idle_s: float = DEFAULT_IDLE_S,
        ssl_context: ssl.SSLContext | None = None,
        environment: ProxyEnvironment | None = None,
    ) -> None:
        if limit_per_host < 1:
            raise ValueError("limit_per_host must be at least 1")
        self.limit_per_host = limit_per_host
        self.idle_s = idle_s
        self._ssl_context = ssl_context
        self._environment = environment or ProxyEnvironment()
        self._origins: dict[tuple[str, str, int, EgressProxy | None], Origin] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<VendorHttp origins={len(self._origins)} limit_per_host={self.limit_per_host}>"

    def origin(
        self, base_url: str, *, proxy: EgressProxy | None = None, use_env_proxy: bool = True
    ) -> tuple[Origin, str]:
        """The pool for ``base_url``'s origin, and its path (no trailing slash).

        Through ``proxy`` when given; else through the environment's proxy
        for the URL unless ``use_env_proxy`` is false.
        """
        if self._closed:
            raise RuntimeError("VendorHttp is closed")
        parts = urlsplit(base_url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"credentials in a vendor URL are not supported: {base_url!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {base_url!r}")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        port = parts.port or (443 if scheme == "https" else 80)
        if proxy is None and use_env_proxy:
            proxy = self._environment.proxy_for(scheme, host, port)
        key = (scheme, host, port, proxy)
        origin = self._origins.get(key)
        if origin is None:
            origin = Origin(
                scheme,
                host,
                port,
                limit=self.limit_per_host,
                idle_s=self.idle_s,
                ssl_context=self._tls() if scheme == "https" else None,
                proxy=proxy,
            )
            self._origins[key] = origin
        return origin, parts.path.rstrip("/")

    def _tls(self) -> ssl.SSLContext:
        # Loading the CA store takes milliseconds: only once, and only for https.
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def close(self) -> None:
        self._closed = True
        origins = list(self._origins.values())
        self._origins.clear()
        for origin in origins:
            await origin.close()

    async def __aenter__(self) -> VendorHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
