"""The routing policy: a pure function from a send and a snapshot of vendors to a plan.

No I/O and no clock: everything it needs is in its arguments, so a table of
cases tests it and ``smsproxy route`` can print the very plan the daemon
would follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VendorView:
    """One vendor as the policy sees it at one instant."""

    name: str
    price_per_segment: float
    max_text_chars: int
    available: bool
    state: str
    reason: str | None = None
    latency_s: float | None = None
    balance_segments: int | None = None  # None: unknown


@dataclass(frozen=True, slots=True)
class Plan:
    order: tuple[str, ...]  # vendors to try, in turn
    skipped: tuple[tuple[str, str], ...]  # (vendor, why not)
    cost: tuple[tuple[str, float], ...]  # (vendor, money for the whole send)

    def explain(self) -> list[str]:
        costs = dict(self.cost)
        lines = [f"{i}. {name}  cost {costs[name]:.4f}" for i, name in enumerate(self.order, 1)]
        lines += [f"-  {name}  skipped: {why}" for name, why in self.skipped]
        return lines


def make_plan(
    text_chars: int, segments: int, recipients: int, vendors: Sequence[VendorView]
) -> Plan:
    usable: list[VendorView] = []
    skipped: list[tuple[str, str]] = []
    for v in vendors:
        if not v.available:
            skipped.append((v.name, f"{v.state}" + (f" ({v.reason})" if v.reason else "")))
        elif text_chars > v.max_text_chars:
            skipped.append((v.name, f"text of {text_chars} chars exceeds its {v.max_text_chars}"))
        elif v.balance_segments is not None and v.balance_segments <= 0:
            skipped.append((v.name, "no balance"))
        else:
            usable.append(v)
    need = segments * recipients
    # Cheapest first; a vendor known not to have enough money for the whole
    # send goes after those that do; ties go to the faster vendor.
    usable.sort(
        key=lambda v: (
            v.balance_segments is not None and v.balance_segments < need,
            v.price_per_segment,
            v.latency_s if v.latency_s is not None else 0.0,
            v.name,
        )
    )
    return Plan(
        order=tuple(v.name for v in usable),
        skipped=tuple(skipped),
        cost=tuple((v.name, v.price_per_segment * need) for v in usable),
    )
