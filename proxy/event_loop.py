"""The event loop the daemon runs on: uvloop where it is installed.

With the legacy port and the vendor calls on our own protocols
(:mod:`proxy.http`, :mod:`adapters.http`), asyncio's pure-Python
transports and callbacks became a fifth of a send's CPU; uvloop's, in C,
took a tenth off a send (``python -m bench --only saturation``).
Where uvloop cannot be installed, the standard loop runs the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from importlib import metadata
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name() -> str:
    """What the daemon runs on, for the benchmark's header."""
    if loop_factory() is asyncio.new_event_loop:
        return "asyncio"
    return f"uvloop {metadata.version('uvloop')}"


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
