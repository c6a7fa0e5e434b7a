"""The vendors' state as metrics, read from the live router's snapshot at each scrape.

Not mirrored into gauges: the admin API's ``/vendors`` and these series
read the same :class:`~proxy.vendor_snapshot.VendorSnapshot`, so they
cannot disagree.  The daemon's other metrics are :mod:`proxy.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from proxy.vendor_snapshot import VendorSnapshot
from routing.health import VendorState


class VendorStateCollector(Collector):
    """Vendor state, balance and ejections, from the live router's snapshot at scrape time."""

    def __init__(self, snapshot: Callable[[], Iterable[VendorSnapshot]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        state = GaugeMetricFamily(
            "smsproxy_vendor_state",
            "1 for the state each vendor is in, 0 for the others.",
            labels=["vendor", "state"],
        )
        balance = GaugeMetricFamily(
            "smsproxy_vendor_balance_segments",
            "Segments the vendor's last known balance buys.",
            labels=["vendor"],
        )
        balance_money = GaugeMetricFamily(
            "smsproxy_vendor_balance_yuan",
            "The vendor's last known balance in money (segments x price).",
            labels=["vendor"],
        )
        left = GaugeMetricFamily(
            "smsproxy_vendor_unroutable_seconds",
            "Seconds until an ejected, drained or backed-off vendor is tried again.",
            labels=["vendor"],
        )
        failures = GaugeMetricFamily(
            "smsproxy_vendor_consecutive_failures",
            "Busy, unreachable or unanswered attempts in a row.",
            labels=["vendor"],
        )
        price = GaugeMetricFamily(
            "smsproxy_vendor_price_yuan", "Configured price per segment.", labels=["vendor"]
        )
        ejections = CounterMetricFamily(
            "smsproxy_vendor_ejections",
            "Times a vendor was ejected or drained, by reason.",
            labels=["vendor", "reason"],
        )
        routable = GaugeMetricFamily(
            "smsproxy_vendors_routable", "Vendors that can be sent to now."
        )
        count = 0
        for vendor in self._snapshot():
            name, current = vendor.name, vendor.state
            count += current is VendorState.ROUTABLE
            for s in VendorState:
                state.add_metric([name, s.value], 1.0 if s is current else 0.0)
            if vendor.balance_segments is not None:
                balance.add_metric([name], float(vendor.balance_segments))
                balance_money.add_metric([name], vendor.balance_segments * vendor.price_per_segment)
            left.add_metric([name], vendor.seconds_left)
            failures.add_metric([name], float(vendor.consecutive_failures))
            price.add_metric([name], vendor.price_per_segment)
            for reason, n in vendor.ejections_by_reason:
                ejections.add_metric([name, reason], float(n))
        routable.add_metric([], float(count))
        yield from (state, balance, balance_money, left, failures, price, ejections, routable)
