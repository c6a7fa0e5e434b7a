"""Where the Redis store is: one server (``redis://``) or a master that Sentinel names.

``state.redis_url`` is either a plain Redis URL or
``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]``; the
same can be said as ``state.redis_sentinels`` + ``state.redis_sentinel_master``
(+ ``state.redis_password``, ``state.redis_db``).  Either way the result is one
:class:`RedisTarget`.  Error messages never repeat the URL: it may hold a
password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

SENTINEL_SCHEME = "redis+sentinel://"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisTarget:
    """One server's URL, or the sentinels to ask for ``master``."""

    # One server: redis://, rediss://, unix://; may carry the password, so not in repr.
    url: str | None = field(default=None, repr=False)
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    # The master's (and its replicas') password; a plain URL carries its own.
    password: str | None = field(default=None, repr=False)

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    def where(self) -> str:
        """For logs and errors: the sentinels and the master's name, never a password."""
        hosts = ",".join(f"{_host(h)}:{p}" for h, p in self.sentinels)
        return f"sentinel {hosts} master {self.master!r} db {self.db}"


def parse_host_port(value: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port``; ValueError naming what is wrong."""
    value = value.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("a sentinel address is HOST:PORT or [IPv6]:PORT")
        port_text = rest[1:]
    else:
        host, _, port_text = value.partition(":") if value.count(":") == 1 else (value, "", "")
    if not host:
        raise ValueError("a sentinel address has no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("a sentinel port is a number from 1 to 65535")
    return host, int(port_text)


def parse_sentinel_url(url: str) -> RedisTarget:
    """``redis+sentinel://[:PASSWORD@]H:P,H:P/MASTER[/DB]``; ValueError without the URL in it."""
    if not url.startswith(SENTINEL_SCHEME):
        raise ValueError(f"a Sentinel URL starts with {SENTINEL_SCHEME}")
    rest = url[len(SENTINEL_SCHEME) :]
    authority, _, path = rest.partition("/")
    password: str | None = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        _, _, secret = userinfo.partition(":")
        password = unquote(secret) or None
    if "?" in path or "#" in path:
        raise ValueError("a Sentinel URL takes no query or fragment")
    sentinels = tuple(
        parse_host_port(part, DEFAULT_SENTINEL_PORT) for part in authority.split(",") if part
    )
    if not sentinels:
        raise ValueError("a Sentinel URL names at least one sentinel (HOST:PORT)")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("a Sentinel URL ends in /MASTER or /MASTER/DB")
    master = unquote(parts[0])
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError("the database after the master's name is a number")
        db = int(parts[1])
    return RedisTarget(sentinels=sentinels, master=master, db=db, password=password)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
