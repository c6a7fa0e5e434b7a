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
    signature: str = "as_is",
    signature_text: str | None = None,
) -> VendorView:
    return VendorView(
        name, price, max_text, available, state, reason, latency, balance, signature, signature_text
    )


TEN = "x" * 10


@pytest.mark.parametrize(
    ("vendors", "text", "recipients", "order", "skipped"),
    [
        ([v("a", 0.05), v("b", 0.04), v("c", 0.06)], TEN, 1, ("b", "a", "c"), ()),
        ([v("a", 0.05, latency=0.3), v("b", 0.05, latency=0.1)], TEN, 1, ("b", "a"), ()),
        (
            [v("a", 0.04, available=False, state="ejected", reason="vendor_busy"), v("b", 0.05)],
            TEN,
            1,
            ("b",),
            (("a", "ejected (vendor_busy)"),),
        ),
        (
            [v("a", 0.04, max_text=70), v("b", 0.05)],
            "x" * 100,
            1,
            ("b",),
            (("a", "text of 100 chars exceeds its 70"),),
        ),
        ([v("a", 0.04, balance=0), v("b", 0.05)], TEN, 1, ("b",), (("a", "no balance"),)),
        # known too little money for the whole group: still first, it takes what it can
        ([v("a", 0.04, balance=5), v("b", 0.05, balance=None)], TEN, 10, ("a", "b"), ()),
        ([v("a", 0.04, balance=50), v("b", 0.05)], TEN, 10, ("a", "b"), ()),
        (
            [v("a", 0.04, signature="required"), v("b", 0.05)],
            TEN,
            1,
            ("b",),
            (("a", "needs a 【signature】 in the text"),),
        ),
        ([v("a", 0.04, signature="required"), v("b", 0.05)], "【ACME】hi", 1, ("a", "b"), ()),
        # the signature added makes the text too long for a
        (
            [v("a", 0.04, signature="add", signature_text="【ACME】", max_text=12), v("b", 0.05)],
            TEN,
            1,
            ("b",),
            (("a", "text of 16 chars exceeds its 12"),),
        ),
        ([], TEN, 1, (), ()),
    ],
)
def test_cheapest(
    vendors: list[VendorView],
    text: str,
    recipients: int,
    order: tuple[str, ...],
    skipped: tuple[tuple[str, str], ...],
) -> None:
    plan = make_plan(text, recipients, vendors)
    assert plan.order == order
    assert plan.skipped == skipped


def test_cost_counts_segments_of_the_vendors_own_text() -> None:
    # 66 chars + a 6-char signature is 72 chars: two segments for a, one for b.
    vendors = [v("a", 0.03, signature="add", signature_text="【ACME】"), v("b", 0.05)]
    plan = make_plan("y" * 66, 1000, vendors)
    assert dict(plan.cost) == {"a": pytest.approx(60.0), "b": pytest.approx(50.0)}
    assert plan.order == ("b", "a")
    assert plan.explain() == ["1. b  cost 50.0000", "2. a  cost 60.0000"]


def test_priority_keeps_the_rules_order() -> None:
    vendors = [v("c", 0.09), v("a", 0.01, available=False, state="drained"), v("b", 0.05)]
    plan = make_plan(TEN, 1, vendors, "priority")
    assert plan.order == ("c", "b")
    assert plan.skipped == (("a", "drained"),)


@pytest.mark.parametrize(("draw", "first"), [(0.0, "a"), (0.74, "a"), (0.76, "b"), (0.99, "b")])
def test_weighted_draw(draw: float, first: str) -> None:
    vendors = [v("a", 0.05), v("b", 0.04)]
    plan = make_plan(TEN, 1, vendors, "weighted", {"a": 3, "b": 1}, draw)
    assert plan.order[0] == first
    assert set(plan.order) == {"a", "b"}


def test_weighted_skips_unavailable() -> None:
    vendors = [v("a", 0.05, available=False, state="ejected"), v("b", 0.04), v("c", 0.04)]
    plan = make_plan(TEN, 1, vendors, "weighted", {"a": 10, "b": 1, "c": 2}, 0.0)
    assert plan.order == ("b", "c")
