"""Typed keys for what lives on the aiohttp application: no module globals."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from config.settings import Settings
from proxy.clients import ClientBook
from proxy.ingest.service import Ingest
from proxy.metrics import Metrics
from proxy.recorder import SendRecorder
from proxy.sending import SendService
from proxy.store.base import Store
from routing.router import Router

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
SESSION = web.AppKey("session", aiohttp.ClientSession)
ROUTER = web.AppKey("router", Router)
RECORDER = web.AppKey("recorder", SendRecorder)
CLIENTS = web.AppKey("clients", ClientBook)
SENDER = web.AppKey("sender", SendService)
LEGACY_APP = web.AppKey("legacy_app", web.Application)
INGEST = web.AppKey("ingest", Ingest)
METRICS = web.AppKey("metrics", Metrics)
