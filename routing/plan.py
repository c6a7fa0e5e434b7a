"""The routing policy: a pure function from a send and a snapshot of vendors to a plan.

No I/O, no clock and no randomness of its own: everything it needs is in its
arguments (the weighted strategy takes its random draw as one), so a table of
cases tests it and ``smsproxy route`` prints the very plan the daemon follows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from core.send import segments
from routing.signature import text_for_vendor


# Named tuples, not frozen dataclasses: the router builds a view of every
# candidate vendor and a plan for every send, and a frozen dataclass costs
# three times as much to build.
class VendorView(NamedTuple):
    """One vendor as the policy sees it at one instant."""

    name: str
    price_per_segment: float
    max_text_chars: int
    available: bool
    state: str
    reason: str | None = None
    latency_s: float | None = None
    balance_segments: int | None = None  # None: unknown
    signature: str = "as_is"
    signature_text: str | None = None


class Plan(NamedTuple):
    strategy: str
    order: tuple[str, ...]  # vendors to try, in turn
    skipped: tuple[tuple[str, str], ...]  # (vendor, why not)
    cost: tuple[tuple[str, float], ...]  # (vendor, money for the whole group)

    def explain(self) -> list[str]:
        costs = dict(self.cost)
        lines = [f"{i}. {name}  cost {costs[name]:.4f}" for i, name in enumerate(self.order, 1)]
        lines += [f"-  {name}  skipped: {why}" for name, why in self.skipped]
        return lines


def make_plan(
    text: str,
    recipients: int,
    vendors: Sequence[VendorView],
    strategy: str = "cheapest",
    weights: Mapping[str, float] | None = None,
    draw: float = 0.0,
) -> Plan:
    """Order the candidate ``vendors`` (given in the rule's order) for one group."""
    usable: list[tuple[VendorView, float]] = []  # view, cost
    skipped: list[tuple[str, str]] = []
    for v in vendors:
        vendor_text = text_for_vendor(text, v.signature, v.signature_text)
        if not v.available:
            skipped.append((v.name, v.state + (f" ({v.reason})" if v.reason else "")))
        elif vendor_text is None:
            skipped.append((v.name, "needs a 【signature】 in the text"))
        elif len(vendor_text) > v.max_text_chars:
            skipped.append(
                (v.name, f"text of {len(vendor_text)} chars exceeds its {v.max_text_chars}")
            )
        elif v.balance_segments is not None and v.balance_segments <= 0 and v.state != "drained":
            # A drained vendor that is available is due its re-check probe: a
            # vendor with no balance query (sms10000) has no other way back.
            skipped.append((v.name, "no balance"))
        else:
            need = segments(vendor_text) * recipients
            usable.append((v, v.price_per_segment * need))

    if strategy == "priority" or len(usable) < 2:
        ranked = usable
    elif strategy == "weighted":
        ranked = _weighted(usable, weights or {}, draw)
    else:
        # Cheapest first, ties to the faster vendor.  A cheap vendor known to
        # be short of money for the whole group still goes first: it spends
        # what it has on the chunks it can take and the rest fails over.
        ranked = sorted(usable, key=lambda u: (u[1], u[0].latency_s or 0.0, u[0].name))
    return Plan(
        strategy,
        tuple([u[0].name for u in ranked]),
        tuple(skipped),
        tuple([(u[0].name, u[1]) for u in ranked]),
    )


def _weighted(
    usable: list[tuple[VendorView, float]], weights: Mapping[str, float], draw: float
) -> list[tuple[VendorView, float]]:
    """The first vendor drawn in proportion to its weight; the rest by weight."""
    if not usable:
        return []
    total = sum(weights.get(u[0].name, 0.0) for u in usable)
    point = draw * total
    first = usable[-1]
    for u in usable:
        point -= weights.get(u[0].name, 0.0)
        if point < 0:
            first = u
            break
    rest = sorted(
        (u for u in usable if u is not first),
        key=lambda u: (-weights.get(u[0].name, 0.0), u[1], u[0].name),
    )
    return [first, *rest]
