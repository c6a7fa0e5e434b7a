"""The vendors smsproxy speaks: enrolling a new one is one line in ``VENDOR_KINDS``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter
from adapters.esms100.adapter import Esms100Adapter, Esms100Settings
from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import Simulator
from config.vendor import VendorSettings


@dataclass(frozen=True)
class VendorKind:
    kind: str
    settings: type[VendorSettings]
    adapter: Any  # a class taking its settings and satisfying adapters.base.Adapter
    simulator: type[Simulator]


VENDOR_KINDS: tuple[VendorKind, ...] = (
    VendorKind("esms100", Esms100Settings, Esms100Adapter, Esms100Simulator),
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
