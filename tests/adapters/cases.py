"""The vendors enrolled in the adapter contract suite: one line each in CASES."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.esms100.adapter import Esms100Settings
from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import Simulator
from config.vendor import VendorSettings
from routing.outcome import Outcome


@dataclass(frozen=True)
class VendorCase:
    kind: str
    simulator: Callable[[], Simulator]
    settings: Callable[[str], VendorSettings]  # given the simulator's base URL
    # Outcomes the vendor's codes do not tell apart: forced outcome -> parsed outcome.
    aliases: Mapping[Outcome, Outcome] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.kind


CASES: list[VendorCase] = [
    VendorCase(
        "esms100",
        lambda: Esms100Simulator(cpid="10000", password="s3cret"),
        lambda url: Esms100Settings(
            kind="esms100",
            name="esms100",
            base_url=url,
            price_per_segment=0.05,
            cpid="10000",
            password="s3cret",  # type: ignore[arg-type]
        ),
        aliases={Outcome.IP_REJECTED: Outcome.AUTH_FAILED},
    ),
]
