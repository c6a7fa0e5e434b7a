"""The daemon the bench runs: the config an operator runs, with the bench's stub vendors.

What ``config/example.toml`` sets, the bench's daemon sets too: a client
quota (large enough never to run out, so the quota is checked and charged on
every send and refuses none), the example's de-duplication window and
unresolved expiry (read from the example, so the two cannot drift apart),
the admin port with a token (metrics are served there, as always).  What it
changes, it changes for the load and says why: the one bench client may send
at any rate and have thousands of sends at once, and the ports take the
5,000 connections of the slow-vendor workload.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.components import ROOT

CPID = "bench"
PASSWORD = "bench-pw-7f3a"  # noqa: S105 - the bench's own client account
CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
VENDOR_CPID = "stub"
VENDOR_PASSWORD = "stub-pw"  # noqa: S105 - the stub checks no password
ADMIN_TOKEN = "bench-admin-2c9e"  # noqa: S105 - the bench daemon's own, on loopback
EXAMPLE = ROOT / "config" / "example.toml"
# Segments: far beyond what any run sends, so the quota is charged, never spent.
QUOTA = 1_000_000_000
MAX_CONNECTIONS = 10_000


@dataclass(frozen=True)
class Vendor:
    name: str
    url: str
    price: float


def example_routing() -> dict[str, Any]:
    """The ``[routing]`` de-duplication settings of ``config/example.toml``."""
    routing = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["routing"]
    return {k: routing[k] for k in ("dedup_window_s", "unresolved_expire_s") if k in routing}


def example_has_quota() -> bool:
    clients = tomllib.loads(EXAMPLE.read_text(encoding="utf-8")).get("clients", [])
    return any("quota" in c for c in clients)


def write_config(
    path: Path,
    state: Path,
    vendors: list[Vendor],
    *,
    quota: bool = True,
    redis_url: str | None = None,
    reports_poll_s: float | None = None,
    proxy_from: str | None = None,
) -> Path:
    """A daemon config for ``smsproxy run``: one client, the given stub vendors.

    ``proxy_from``: the daemon is behind a load balancer at that network,
    which sends the PROXY header (README: "Running several daemons").
    """
    routing = example_routing()
    lines = [
        "[listen]",
        # Every listener on a free loopback port.
        *(f'{port} = "127.0.0.1:0"' for port in ("legacy", "admin", "push")),
        *(
            ["proxy_protocol = true", f"trusted_proxies = [{json.dumps(proxy_from)}]"]
            if proxy_from
            else []
        ),
        "[http]",
        # The slow-vendor workload holds 5,000 connections; the example's 4,096 would refuse some.
        f"max_connections = {MAX_CONNECTIONS}",
        "[state]",
        f"path = {json.dumps(str(state))}",
        *(['engine = "redis"', f"redis_url = {json.dumps(redis_url)}"] if redis_url else []),
        *(["[reports]", f"poll_interval_override_s = {reports_poll_s}"] if reports_poll_s else []),
        "[legacy]",
        # One client drives every workload, thousands of sends at once in
        # some: as an operator with one such client would, it may have them.
        "max_sends_in_flight_per_client = 100000",
        "max_sends_waiting = 100000",
        "[routing]",
        *(f"{k} = {v}" for k, v in routing.items()),
        "[admin]",
        f'token = "{ADMIN_TOKEN}"',
        "[shutdown]",
        "grace_s = 5",
        "[[clients]]",
        f'cpid = "{CPID}"',
        f'password = "{PASSWORD}"',
        "rate_per_s = 1000000  # the default (10/s, like esms100) would refuse the load",
        *([f"quota = {QUOTA}"] if quota else []),
    ]
    for vendor in vendors:
        lines += [
            "[[vendors]]",
            'kind = "esms100"',
            f'name = "{vendor.name}"',
            f'base_url = "{vendor.url}"',
            f"price_per_segment = {vendor.price}",
            "rate_per_s = 1000000",
            f'cpid = "{VENDOR_CPID}"',
            f'password = "{VENDOR_PASSWORD}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def daemon_module() -> list[str]:
    """``python -m`` this: the daemon's CLI, or what ``SMSPROXY_BENCH_DAEMON`` says (a profiler)."""
    return shlex.split(os.environ.get("SMSPROXY_BENCH_DAEMON", "proxy.cli"))


def state_bytes(state: Path) -> int:
    """The SQLite state on disk: the file and its write-ahead log."""
    total = 0
    for path in (state, state.with_name(state.name + "-wal")):
        if path.exists():
            total += path.stat().st_size
    return total
