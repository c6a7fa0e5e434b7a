"""structlog: JSON lines when not on a terminal, readable lines when on one.

Request handlers bind client, send and vendor through contextvars.  Nothing
here logs a password, a ``cppwd`` or a message's text: the handlers never
pass them, and :func:`drop_secrets` masks such keys should one slip in, at
any depth (a dict or list passed as a value is walked too).

Lines from libraries that log through the standard library (asyncio's
"Task exception was never retrieved", redis, aiohttp in the simulators) go
through the same processors and renderer, so an operator's log pipeline
reads one format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

SECRET_KEYS = frozenset(
    {
        "password",
        "cppwd",
        "pwd",
        "pswd",
        "authkey",
        "key",
        "msgtext",
        "text",
        "content",
        "msg",
        "oldpwd",
        "newpwd",
        "token",
        "authorization",
        "push_token",
        "redis_url",
        "redis_password",
        "redis_sentinel_password",
        "proxy_url",
    }
)
MASK = "***"
# Deeper than any value a handler logs; a cycle or a pathological value stops here.
MAX_DEPTH = 8


def drop_secrets(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if key.lower() in SECRET_KEYS:
            event[key] = MASK
        elif isinstance(value, Mapping | list | tuple):
            event[key] = _masked(value, MAX_DEPTH)
    return event


def _masked(value: Any, depth: int) -> Any:
    if depth == 0:
        return MASK
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and k.lower() in SECRET_KEYS else _masked(v, depth - 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(v, depth - 1) for v in value]
    return value


def configure_logging(
    level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_secrets,
    ]
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    # The standard library's records: the same processors, then the same renderer.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
