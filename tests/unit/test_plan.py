"""Table tests of the pure routing policy."""

from __future__ import annotations

import pytest

from routing.plan import VendorView, make_plan


def v(
    name: str,
    price: float,
    *,
    available: bool = True,
    state: str = "routable",
    max_text: int = 500,
    latency: float | None = None,
    balance: int | None = None,
    reason: str | None = None,
) -> VendorView:
    return VendorView(name, price, max_text, available, state, reason, latency, balance)


@pytest.mark.parametrize(
    ("vendors", "text_chars", "recipients", "order", "skipped"),
    [
        ([v("a", 0.05), v("b", 0.04), v("c", 0.06)], 10, 1, ("b", "a", "c"), ()),
        ([v("a", 0.05, latency=0.3), v("b", 0.05, latency=0.1)], 10, 1, ("b", "a"), ()),
        (
            [v("a", 0.04, available=False, state="ejected", reason="vendor_busy"), v("b", 0.05)],
            10,
            1,
            ("b",),
            (("a", "ejected (vendor_busy)"),),
        ),
        (
            [v("a", 0.04, max_text=70), v("b", 0.05)],
            100,
            1,
            ("b",),
            (("a", "text of 100 chars exceeds its 70"),),
        ),
        ([v("a", 0.04, balance=0), v("b", 0.05)], 10, 1, ("b",), (("a", "no balance"),)),
        # known too little money for the whole send: still tried, but after those with enough
        ([v("a", 0.04, balance=5), v("b", 0.05, balance=None)], 10, 10, ("b", "a"), ()),
        ([v("a", 0.04, balance=50), v("b", 0.05)], 10, 10, ("a", "b"), ()),
        ([], 10, 1, (), ()),
    ],
)
def test_plan_order(
    vendors: list[VendorView],
    text_chars: int,
    recipients: int,
    order: tuple[str, ...],
    skipped: tuple[tuple[str, str], ...],
) -> None:
    plan = make_plan(text_chars, 1, recipients, vendors)
    assert plan.order == order
    assert plan.skipped == skipped


def test_cost_is_price_times_segments_times_recipients() -> None:
    plan = make_plan(100, 2, 1000, [v("a", 0.05)])
    assert dict(plan.cost) == {"a": pytest.approx(100.0)}
    assert plan.explain() == ["1. a  cost 100.0000"]
