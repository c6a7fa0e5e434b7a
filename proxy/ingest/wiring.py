"""Put the ingest side on the legacy application (its ``cleanup_ctx``).

It runs after the daemon's own state is up (it needs the store and the
HTTP session) and stops before it, so the pollers' last batch is stored
before the store closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from proxy.ingest.service import Ingest
from proxy.keys import INGEST, SESSION, SETTINGS, STORE


async def ingest_state(app: web.Application) -> AsyncIterator[None]:
    ingest = Ingest(app[SETTINGS], app[STORE], app[SESSION])
    app[INGEST] = ingest
    ingest.start()
    yield
    await ingest.stop()
