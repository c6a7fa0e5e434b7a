"""The vendor clients of one engine: one per configured vendor, built here only.

Routing sends through them, the pollers poll through the client of their
account's first enabled vendor, and the push port reads pushes with their
adapters: one object per vendor, whoever talks to it.  Disabled vendors get
one too, as they may still push reports of what they sent before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adapters.client import VendorClient
from adapters.http.client import VendorHttp
from adapters.registry import make_adapter
from adapters.transport import VendorTransport
from config.vendor import VendorSettings

VendorClients = Mapping[str, VendorClient]  # by vendor name


def vendor_clients(vendors: Sequence[VendorSettings], http: VendorHttp) -> VendorClients:
    return {vs.name: vendor_client(vs, http) for vs in vendors}


def vendor_client(vs: VendorSettings, http: VendorHttp) -> VendorClient:
    return VendorClient(vs.name, make_adapter(vs), VendorTransport.for_vendor(http, vs))
