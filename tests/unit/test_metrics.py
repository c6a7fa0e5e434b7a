"""What a vendor attempt adds to each of its series."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from core.outcome import Outcome
from proxy.metrics import Metrics


def test_an_attempt_counts_in_every_series_of_its_vendor_and_outcome() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, ["a", "b"], ["acme"])
    metrics.attempt("a", Outcome.ACCEPTED, 3, 6, 0.2, 0.3)
    metrics.attempt("a", Outcome.ACCEPTED, 1, 2, 0.01, 0.1)
    metrics.attempt("a", Outcome.AMBIGUOUS, 2, 2, 1.5, 0.1)
    metrics.attempt("a", Outcome.RATE_LIMITED, 4, 0, -1.0, 0.0)  # our own limit: never sent
    metrics.attempt("b", Outcome.VENDOR_BUSY, 5, 5, 0.05, 0.25)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("smsproxy_recipients_total", vendor="a", outcome="accepted") == 4
    assert value("smsproxy_segments_total", vendor="a", outcome="accepted") == 8
    assert value("smsproxy_vendor_requests_total", vendor="a", outcome="accepted") == 2
    assert value("smsproxy_cost_yuan_total", vendor="a") == pytest.approx(0.4)
    assert value("smsproxy_ambiguous_attempts_total", vendor="a") == 1
    assert value("smsproxy_recipients_total", vendor="a", outcome="ambiguous") == 2
    assert value("smsproxy_recipients_total", vendor="a", outcome="rate_limited") == 4
    assert value("smsproxy_vendor_requests_total", vendor="a", outcome="rate_limited") == 0
    assert value("smsproxy_vendor_request_duration_seconds_count", vendor="a") == 3
    assert value("smsproxy_vendor_request_duration_seconds_sum", vendor="a") == pytest.approx(1.71)
    assert value("smsproxy_vendor_request_duration_seconds_bucket", vendor="a", le="0.01") == 1
    assert value("smsproxy_vendor_requests_total", vendor="b", outcome="vendor_busy") == 1
    assert value("smsproxy_cost_yuan_total", vendor="b") == 0
    assert value("smsproxy_ambiguous_attempts_total", vendor="b") == 0
