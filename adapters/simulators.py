"""Every vendor kind with its settings, adapter and simulator: for tests and ``smsproxy demo``.

Not part of the daemon: this imports every simulator, and so aiohttp's web
server.  ``smsproxy demo`` imports it when it runs (``[tool.importlinter]``
in ``pyproject.toml`` keeps every other product module from reaching it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.c123.simulator import C123Simulator
from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.esms100.simulator import Esms100Simulator
from adapters.registry import ADAPTERS
from adapters.simulator import Simulator
from adapters.sms10000.simulator import Sms10000Simulator
from adapters.smscn.simulator import SmscnSimulator
from config.vendor import VendorSettings
from config.vendor_kinds import VENDOR_SETTINGS

SIMULATORS: dict[str, type[Simulator]] = {
    "esms100": Esms100Simulator,
    "smscn": SmscnSimulator,
    "chuanglan": ChuanglanSimulator,
    "c123": C123Simulator,
    "sms10000": Sms10000Simulator,
}


@dataclass(frozen=True)
class VendorKind:
    kind: str
    settings: type[VendorSettings]
    adapter: Any  # a class taking its settings and satisfying adapters.base.Adapter
    simulator: type[Simulator]


VENDOR_KINDS: tuple[VendorKind, ...] = tuple(
    VendorKind(kind, settings, ADAPTERS[kind], SIMULATORS[kind])
    for kind, settings in VENDOR_SETTINGS.items()
)


def kind_of(name: str) -> VendorKind:
    for vk in VENDOR_KINDS:
        if vk.kind == name:
            return vk
    raise KeyError(name)
