"""The ``smsproxy`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import structlog
from prometheus_client import disable_created_metrics

from config.loader import ConfigError, exposed_secrets, load_settings
from config.settings import Settings, StateSettings
from proxy import event_loop
from proxy.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smsproxy", description="Failover routing proxy for SMS vendors (esms100 wire format)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", required=True, type=Path, help="TOML config file")
    check = sub.add_parser("check-config", help="validate a config file and say what it holds")
    check.add_argument("config", type=Path)
    route = sub.add_parser("route", help="explain where a message would go, sending nothing")
    route.add_argument("--config", required=True, type=Path)
    route.add_argument("--phone", required=True, help="numbers, comma-separated")
    route.add_argument("--text", required=True)
    route.add_argument("--client", default=None, help="cpid (default: the first client)")
    demo = sub.add_parser("demo", help="run on embedded defaults with simulated vendors")
    demo.add_argument("--listen", default="127.0.0.1:8080", help="legacy address")
    demo.add_argument("--admin", default="127.0.0.1:9100", help="admin address")
    demo.add_argument("--push", default="127.0.0.1:9200", help="vendor push address")
    demo.add_argument("--state", default=Path("var/smsproxy-demo.sqlite3"), type=Path)
    demo.add_argument(
        "--vendor-port", default=18001, type=int, help="first simulator port (0: any free port)"
    )
    args = parser.parse_args(argv)

    if args.command == "check-config":
        return check_config(args.config)
    if args.command == "route":
        return explain_route(args.config, args.client, args.phone, args.text)
    configure_logging(args.log_level)
    # Process-wide: *_created series double every counter's series count for
    # nothing a dashboard uses.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    if args.command == "run":
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        warn_if_exposed(args.config, settings)
        from config.egress import ProxyEnvironmentError
        from proxy.ingest.spool import SpoolInUse
        from proxy.serve import Daemon
        from proxy.store.base import StoreUnavailable

        try:
            event_loop.run(Daemon(settings, args.config).run_until_signalled())
        except (SpoolInUse, StoreUnavailable, ProxyEnvironmentError) as exc:
            # What the operator must change, not a traceback (neither carries a secret).
            print(f"smsproxy: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "demo":
        from proxy.demo import run_demo

        try:
            event_loop.run(
                run_demo(args.listen, args.admin, args.push, args.state, args.vendor_port)
            )
        except OSError as exc:
            print(
                f"smsproxy demo: {exc.strerror or exc}: is another demo running? "
                "Use --listen/--admin/--vendor-port",
                file=sys.stderr,
            )
            return 1
        return 0
    return 2


def warn_if_exposed(path: Path, settings: Settings) -> None:
    exposed = exposed_secrets(path, settings)
    if exposed:
        structlog.get_logger("smsproxy.cli").warning(
            "config_readable_by_others",
            path=str(path),
            mode=oct(path.stat().st_mode & 0o777),
            secrets=exposed,
            fix='chmod 600 the file, or give them as { env = "NAME" }',
        )


def explain_route(path: Path, client: str | None, phone: str, text: str) -> int:
    from proxy.explain import explain

    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    cpid = client or (settings.clients[0].cpid if settings.clients else "-")
    for line in asyncio.run(explain(settings, cpid, phone, text)):
        print(line)
    return 0


def check_config(path: Path) -> int:
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{path}: OK")
    print(f"  legacy listens on {settings.listen.legacy}, admin on {settings.listen.admin}")
    print(f"  state {describe_state(settings.state)}")
    print(f"  {len(settings.clients)} client(s): {', '.join(c.cpid for c in settings.clients)}")
    for v in settings.vendors:
        state = "" if v.enabled else " (disabled)"
        proxy = v.egress_proxy
        # The proxy's address only: its URL may carry a password.
        via = f" through proxy {proxy.address}" if proxy is not None else ""
        print(
            f"  vendor {v.name}: {getattr(v, 'kind', '?')} at {v.base}{via}, "
            f"{v.price_per_segment} per segment, {v.rate_per_s}/s{state}"
        )
    for rule in settings.effective_rules():
        print(f"  rule {rule.name}: {rule.strategy} over {', '.join(rule.vendors)}")
    return 0


def describe_state(state: StateSettings) -> str:
    target = state.redis_target() if state.engine == "redis" else None
    if target is not None:
        from proxy.store.redis.store import server_of

        # Never the URL itself: it may carry the password.
        where = server_of(target.url) if target.url is not None else target.where()
        return f"in redis at {where}, keys {state.redis_prefix}*"
    return f"file {state.path}"


if __name__ == "__main__":
    sys.exit(main())
