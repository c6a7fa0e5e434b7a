"""How much load each workload gets: ``full`` for figures, ``quick`` to smoke-test the harness."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    quick: bool
    duration_s: float  # cap of one measured run
    warmup: int  # requests before a measured run (not counted)
    saturation_concurrency: int
    saturation_requests: int
    rate_per_s: float
    fanout_recipients: int
    fanout_concurrency: int
    fanout_requests: int
    slow_latency_s: float
    slow_in_flight: int
    slow_requests: int
    failover_concurrency: int
    failover_requests: int
    report_poll_s: float  # how often the daemon polls the stub for reports
    report_drain_s: float  # how long the backlog may take to clear after the load
    retry_every: int  # one send in this many is a client's retry of an earlier one
    peer_drain_s: float  # how long a peer that answers on enqueue may take to deliver

    @classmethod
    def full(cls, duration_s: float = 8.0) -> Sizes:
        return cls(
            quick=False,
            duration_s=duration_s,
            warmup=1000,
            saturation_concurrency=32,
            saturation_requests=200_000,
            rate_per_s=1000.0,
            fanout_recipients=1000,
            fanout_concurrency=8,
            fanout_requests=20_000,
            slow_latency_s=0.2,
            slow_in_flight=5000,
            slow_requests=15_000,
            failover_concurrency=32,
            failover_requests=200_000,
            report_poll_s=0.1,
            report_drain_s=60.0,
            retry_every=10,
            peer_drain_s=60.0,
        )

    @classmethod
    def quick_mode(cls, duration_s: float = 1.0) -> Sizes:
        return cls(
            quick=True,
            duration_s=duration_s,
            warmup=0,
            saturation_concurrency=8,
            saturation_requests=300,
            rate_per_s=300.0,
            fanout_recipients=1000,
            fanout_concurrency=2,
            fanout_requests=20,
            slow_latency_s=0.2,
            slow_in_flight=200,
            slow_requests=400,
            failover_concurrency=8,
            failover_requests=300,
            report_poll_s=0.1,
            report_drain_s=30.0,
            retry_every=10,
            peer_drain_s=15.0,
        )
