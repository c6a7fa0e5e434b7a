"""structlog: JSON lines when not on a terminal, readable lines when on one.

Request handlers bind client, send and vendor through contextvars.  Nothing
here logs a password, a ``cppwd`` or a message's text: the handlers never
pass them, and :func:`drop_secrets` removes such keys should one slip in.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

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
    }
)


def drop_secrets(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in SECRET_KEYS.intersection(event):
        event[key] = "***"
    return event


def configure_logging(level: str = "info", json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
