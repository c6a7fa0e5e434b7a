"""The vendors smsproxy speaks: enrolling a new one is one line in ``VENDOR_KINDS``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter
from adapters.c123.adapter import C123Adapter, C123Settings
from adapters.c123.simulator import C123Simulator
from adapters.chuanglan.adapter import ChuanglanAdapter, ChuanglanSettings
from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.esms100.adapter import Esms100Adapter, Esms100Settings
from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import Simulator
from adapters.sms10000.adapter import Sms10000Adapter, Sms10000Settings
from adapters.sms10000.simulator import Sms10000Simulator
from adapters.smscn.adapter import SmscnAdapter, SmscnSettings
from adapters.smscn.simulator import SmscnSimulator
from config.vendor import VendorSettings


@dataclass(frozen=True)
class VendorKind:
    kind: str
    settings: type[VendorSettings]
    adapter: Any  # a class taking its settings and satisfying adapters.base.Adapter
    simulator: type[Simulator]


VENDOR_KINDS: tuple[VendorKind, ...] = (
    VendorKind("esms100", Esms100Settings, Esms100Adapter, Esms100Simulator),
    VendorKind("smscn", SmscnSettings, SmscnAdapter, SmscnSimulator),
    VendorKind("chuanglan", ChuanglanSettings, ChuanglanAdapter, ChuanglanSimulator),
    VendorKind("c123", C123Settings, C123Adapter, C123Simulator),
    VendorKind("sms10000", Sms10000Settings, Sms10000Adapter, Sms10000Simulator),
)


def kind_of(name: str) -> VendorKind:
    for vk in VENDOR_KINDS:
        if vk.kind == name:
            return vk
    raise KeyError(name)


def make_adapter(settings: VendorSettings) -> Adapter:
    vk = kind_of(getattr(settings, "kind"))  # noqa: B009
    adapter: Adapter = vk.adapter(settings)
    return adapter
