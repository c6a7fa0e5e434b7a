"""The vendors enrolled in the adapter contract suite: one line each in CASES."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.c123.simulator import C123Simulator
from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import Simulator
from adapters.sms10000.simulator import Sms10000Simulator
from adapters.smscn.simulator import SmscnSimulator
from config.vendor import VendorSettings
from config.vendor_kinds import (
    C123Settings,
    ChuanglanSettings,
    Esms100Settings,
    Sms10000Settings,
    SmscnSettings,
)
from core.outcome import Outcome


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
        "smscn",
        lambda: SmscnSimulator(uid="test", password="123123"),
        lambda url: SmscnSettings(
            kind="smscn",
            name="smscn",
            base_url=url,
            price_per_segment=0.04,
            uid="test",
            password="123123",  # type: ignore[arg-type]
        ),
        # Every outcome has a code of its own: no aliases.
    ),
    VendorCase(
        "chuanglan",
        lambda: ChuanglanSimulator(receiver="smsproxy", receiver_password="push-s3cret"),
        lambda url: ChuanglanSettings(
            kind="chuanglan",
            name="chuanglan",
            base_url=url,
            price_per_segment=0.04,
            account="test01",
            password="123456",  # type: ignore[arg-type]
            product="274463133",
            report_receiver="smsproxy",
            report_password="push-s3cret",  # type: ignore[arg-type]
        ),
        # No code for a bad number: the simulator answers 108 (号码个数错).
        aliases={Outcome.RECIPIENT_INVALID: Outcome.REQUEST_INVALID},
    ),
    VendorCase(
        "c123",
        lambda: C123Simulator(),
        lambda url: C123Settings(
            kind="c123",
            name="c123",
            base_url=url,
            price_per_segment=0.05,  # the simulator's price: remain / price = segments
            ac="1001@500008880001",
            authkey="87B01469201D6557C2685137EB3B5DEC",  # type: ignore[arg-type]
            cgid="80",
        ),
        # -1 is too fast, time limit and unbound IP alike; -4 is every bad parameter.
        aliases={
            Outcome.IP_REJECTED: Outcome.RATE_LIMITED,
            Outcome.CONTENT_REJECTED: Outcome.REQUEST_INVALID,
            Outcome.RECIPIENT_INVALID: Outcome.REQUEST_INVALID,
        },
    ),
    VendorCase(
        "sms10000",
        lambda: Sms10000Simulator(epr_id=1, user_id="sword123", password="s3cret"),
        lambda url: Sms10000Settings(
            kind="sms10000",
            name="sms10000",
            base_url=url,
            price_per_segment=0.04,
            epr_id=1,
            user_id="sword123",
            password="s3cret",  # type: ignore[arg-type]
        ),
        # No codes for these: the simulator answers 0 (失败) and -1 (缺少参数).
        aliases={
            Outcome.RATE_LIMITED: Outcome.VENDOR_BUSY,
            Outcome.RECIPIENT_INVALID: Outcome.REQUEST_INVALID,
        },
    ),
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
