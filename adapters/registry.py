"""Each vendor kind's adapter, by kind: what the daemon builds for a configured vendor.

No simulator here: the daemon's import graph holds none (the simulators'
registry is :mod:`adapters.simulators`).  A kind's settings are in
:mod:`config.vendor_kinds`.
"""

from __future__ import annotations

from typing import Any

from adapters.base import Adapter
from adapters.c123.adapter import C123Adapter
from adapters.chuanglan.adapter import ChuanglanAdapter
from adapters.esms100.adapter import Esms100Adapter
from adapters.sms10000.adapter import Sms10000Adapter
from adapters.smscn.adapter import SmscnAdapter
from config.vendor import VendorSettings

# Kind name -> a class taking that kind's settings and satisfying adapters.base.Adapter.
ADAPTERS: dict[str, Any] = {
    "esms100": Esms100Adapter,
    "smscn": SmscnAdapter,
    "chuanglan": ChuanglanAdapter,
    "c123": C123Adapter,
    "sms10000": Sms10000Adapter,
}


def make_adapter(settings: VendorSettings) -> Adapter:
    adapter: Adapter = ADAPTERS[getattr(settings, "kind")](settings)  # noqa: B009
    return adapter
