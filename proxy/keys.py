"""Typed keys for what lives on the aiohttp application: no module globals."""

from __future__ import annotations

from aiohttp import web

from adapters.http1 import VendorHttp
from proxy.engine import Live
from proxy.metrics import Metrics
from proxy.recorder import SendRecorder
from proxy.reload import Reloader
from proxy.store.base import Store

# What outlives a config, for the life of the process:
STORE = web.AppKey("store", Store)
VENDOR_HTTP = web.AppKey("vendor_http", VendorHttp)
RECORDER = web.AppKey("recorder", SendRecorder)
METRICS = web.AppKey("metrics", Metrics)
RELOADER = web.AppKey("reloader", Reloader)
# What a config decides (router, clients, rules, pollers), swapped by a reload:
LIVE = web.AppKey("live", Live)
# On the admin and push applications: the legacy application that owns the state.
LEGACY_APP = web.AppKey("legacy_app", web.Application)
