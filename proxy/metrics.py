"""Prometheus metrics: defined on a registry the app owns, never a global one.

Names follow the Prometheus naming guide: ``smsproxy_`` prefix, base units
(seconds, yuan for money, segments for billing units), ``_total`` counters.
Labels are bounded: vendor and client names come from the config, outcomes
and answer codes from fixed tables; never a phone number or a message id.
Every labelled series starts at zero, so rates and alerts work from the
first scrape.  Vendor state is read at scrape time by
:class:`proxy.vendor_metrics.VendorStateCollector` rather than mirrored
into gauges.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.outcome import Outcome
from proxy.admission import REASONS as BUSY_REASONS
from proxy.http.limits import REFUSALS as HTTP_REFUSALS
from proxy.ingest.push_auth import PushRefusal

ENDPOINTS = ("mt", "mo", "qamount", "qreport", "ent")
CODES = (
    "0",
    "-1",
    "-2",
    "-3",
    "-4",
    "-5",
    "-7",
    "-8",
    "-9",
    "-10",
    "-11",
    "-15",
    "-16",
    "-17",
    "-110",
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
VERSION = "0.1.0"
REPORT_STATUSES = ("delivered", "failed", "unknown")
STATUS_NAMES = {1: "delivered", 2: "failed", 0: "unknown"}
HTTP_PORTS = ("legacy", "admin", "push")
FAILOVER_REASONS = tuple(
    o.value
    for o in Outcome
    if o not in (Outcome.ACCEPTED, Outcome.RECIPIENT_INVALID, Outcome.REQUEST_INVALID)
)


class _AttemptSeries(NamedTuple):
    recipients: Counter
    segments: Counter
    requests: Counter
    duration: Histogram
    extra: Counter | None  # accepted: the cost; ambiguous: the ambiguous count


class Metrics:
    def __init__(
        self, registry: CollectorRegistry, vendors: Sequence[str], clients: Sequence[str]
    ) -> None:
        self.registry = registry
        r = registry
        self.legacy_requests = Counter(
            "smsproxy_legacy_requests",
            "Legacy (esms100) requests, by endpoint and answer code.",
            ["endpoint", "code"],
            registry=r,
        )
        self.legacy_duration = Histogram(
            "smsproxy_legacy_request_duration_seconds",
            "Time to answer a legacy request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sends_in_flight = Gauge(
            "smsproxy_sends_in_flight", "Legacy /mt/ requests being handled now.", registry=r
        )
        self.sends_refused_busy = Counter(
            "smsproxy_sends_refused_busy",
            "Legacy /mt/ requests answered -15, unsent, because the daemon was busy:"
            " the client had legacy.max_sends_in_flight_per_client under way or waiting"
            " (client_limit), or legacy.max_sends_waiting were waiting (saturated).",
            ["client", "reason"],
            registry=r,
        )
        self.client_over_rate = Counter(
            "smsproxy_client_over_rate",
            "Legacy requests answered -15 because the client had made rate_per_s in the"
            " second before (any one-second window; across the daemons sharing Redis).",
            ["client"],
            registry=r,
        )
        self.login_failures = Counter(
            "smsproxy_login_failures",
            "Failed logins: a wrong cppwd or /ent/ oldpwd, an unknown cpid, or an address"
            " outside the client's allowed_ips.",
            registry=r,
        )
        self.login_lockouts = Counter(
            "smsproxy_login_lockouts",
            "Lock-outs started by failed logins, by scope: address"
            " (login.max_failures_per_address) or client (login.max_failures_per_client).",
            ["scope"],
            registry=r,
        )
        self.logins_refused = Counter(
            "smsproxy_logins_refused",
            "Logins refused unchecked during a lock-out (-9; /ent/ -1), by scope.",
            ["scope"],
            registry=r,
        )
        self.recipients = Counter(
            "smsproxy_recipients",
            "Recipients of vendor attempts, by vendor and outcome.",
            ["vendor", "outcome"],
            registry=r,
        )
        self.segments = Counter(
            "smsproxy_segments",
            "Billing segments of vendor attempts, by vendor and outcome.",
            ["vendor", "outcome"],
            registry=r,
        )
        self.vendor_requests = Counter(
            "smsproxy_vendor_requests",
            "Send requests made to vendors, by vendor and outcome.",
            ["vendor", "outcome"],
            registry=r,
        )
        self.vendor_duration = Histogram(
            "smsproxy_vendor_request_duration_seconds",
            "Time a vendor took to answer a send request.",
            ["vendor"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.failovers = Counter(
            "smsproxy_failovers",
            "Chunks moved from one vendor to the next, and why.",
            ["from_vendor", "to_vendor", "reason"],
            registry=r,
        )
        self.ambiguous = Counter(
            "smsproxy_ambiguous_attempts",
            "Attempts with no clear answer: the vendor may have sent them.",
            ["vendor"],
            registry=r,
        )
        self.cost = Counter(
            "smsproxy_cost_yuan",
            "Money spent on accepted segments, by vendor.",
            ["vendor"],
            registry=r,
        )
        self.rate_waits = Counter(
            "smsproxy_rate_limit_waits",
            "Chunks that waited for a vendor's request-rate limit; gave_up: moved on instead.",
            ["vendor", "gave_up"],
            registry=r,
        )
        self.rate_wait_seconds = Counter(
            "smsproxy_rate_limit_wait_seconds",
            "Time chunks spent waiting for rate limits.",
            ["vendor"],
            registry=r,
        )
        self.retries_deduplicated = Counter(
            "smsproxy_client_retries_deduplicated",
            "Recipients of a client's resend that a vendor had accepted: not sent again.",
            ["client"],
            registry=r,
        )
        self.retries_unresolved = Counter(
            "smsproxy_client_retries_unresolved",
            "Recipients of a client's resend that a vendor may have (no clear answer, or"
            " the daemon died while sending): not sent again, answered -17.",
            ["client"],
            registry=r,
        )
        self.unresolved = Gauge(
            "smsproxy_unresolved_recipients",
            "Recipients a vendor may have but never confirmed, not yet resolved by a"
            " delivery report or expired (routing.unresolved_expire_s).",
            registry=r,
        )
        self.reports = Counter(
            "smsproxy_delivery_reports",
            "Delivery reports taken from vendors and matched, by vendor and esms100 status.",
            ["vendor", "status"],
            registry=r,
        )
        self.unmatched_reports = Counter(
            "smsproxy_unmatched_reports",
            "Delivery reports that matched no send record, kept for inspection.",
            ["vendor"],
            registry=r,
        )
        self.replies = Counter(
            "smsproxy_replies",
            "Replies (MO) taken from vendors, by vendor.",
            ["vendor"],
            registry=r,
        )
        self.pushes_refused = Counter(
            "smsproxy_pushes_refused",
            "Vendor pushes refused and not stored, by vendor and reason: address (not in"
            " push_allowed_ips), token (wrong push_token), unconfigured (no secret, token or"
            " address list to check), account (not our account or push password), malformed.",
            ["vendor", "reason"],
            registry=r,
        )
        self.http_refusals = Counter(
            "smsproxy_http_refusals",
            "Connections and requests refused by the HTTP limits, by port and reason:"
            " connections (max_connections reached), head_too_large, head_timeout,"
            " body_timeout, bad_request, proxy_header.",
            ["port", "reason"],
            registry=r,
        )
        for port in HTTP_PORTS:
            for reason in HTTP_REFUSALS:
                self.http_refusals.labels(port, reason)
        self.http_connections = Gauge(
            "smsproxy_http_connections",
            "Open connections, by port.",
            ["port"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "smsproxy_queue_depth",
            "Reports or replies waiting for their client to poll.",
            ["queue"],
            registry=r,
        )
        self.queue_oldest_age = Gauge(
            "smsproxy_queue_oldest_age_seconds",
            "Age of the oldest report or reply waiting for its client.",
            ["queue"],
            registry=r,
        )
        self.build_info = Gauge(
            "smsproxy_build_info",
            "Always 1; labels say what is running.",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(VERSION, platform.python_version()).set(1)
        self._vendors: list[str] = []
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        # Every series an attempt counts in, by (vendor, outcome): one look-up
        # per attempt instead of one per series.
        self._attempt_series: dict[tuple[str, Outcome], _AttemptSeries] = {}
        for endpoint in ENDPOINTS:
            self.legacy_duration.labels(endpoint)
            for code in CODES:
                self.legacy_requests.labels(endpoint, code)
        for scope in ("address", "client"):
            self.login_lockouts.labels(scope)
            self.logins_refused.labels(scope)
        for queue in ("reports", "replies"):
            self.queue_depth.labels(queue)
            self.queue_oldest_age.labels(queue)
        self.add_labels(vendors, clients)

    def add_labels(self, vendors: Sequence[str], clients: Sequence[str]) -> None:
        """Start every series of these vendors and clients at zero (again after a reload)."""
        for vendor in vendors:
            self.vendor_duration.labels(vendor)
            self.ambiguous.labels(vendor)
            self.cost.labels(vendor)
            self.rate_wait_seconds.labels(vendor)
            for gave_up in ("false", "true"):
                self.rate_waits.labels(vendor, gave_up)
            for outcome in Outcome:
                self.recipients.labels(vendor, outcome.value)
                self.segments.labels(vendor, outcome.value)
                self.vendor_requests.labels(vendor, outcome.value)
        # Every failover path starts at zero, or the first one would be invisible
        # to rate(); "none" is where recipients go when no vendor is left.
        self._vendors = sorted({*self._vendors, *vendors})
        for from_vendor in self._vendors:
            for to_vendor in [*self._vendors, "none"]:
                if from_vendor == to_vendor:
                    continue
                for reason in FAILOVER_REASONS:
                    self.failovers.labels(from_vendor, to_vendor, reason)
        for client in clients:
            self.retries_deduplicated.labels(client)
            self.retries_unresolved.labels(client)
            self.client_over_rate.labels(client)
            for reason in BUSY_REASONS:
                self.sends_refused_busy.labels(client, reason)
        for vendor in vendors:
            self.unmatched_reports.labels(vendor)
            self.replies.labels(vendor)
            for refusal in PushRefusal:
                self.pushes_refused.labels(vendor, refusal.value)
            for status in REPORT_STATUSES:
                self.reports.labels(vendor, status)

    def legacy_request(self, endpoint: str, code: str, seconds: float) -> None:
        self._child(self.legacy_requests, endpoint, code).inc()
        self._child(self.legacy_duration, endpoint).observe(seconds)

    def http_refused(self, port: str) -> Callable[[str], None]:
        """The refusal hook of one port's HTTP server."""
        children = {reason: self.http_refusals.labels(port, reason) for reason in HTTP_REFUSALS}
        return lambda reason: children[reason].inc()

    def send_refused_busy(self, client: str, reason: str) -> None:
        self._child(self.sends_refused_busy, client, reason).inc()

    # --- proxy.login_throttle.LoginObserver ---------------------------------------

    def login_failed(self) -> None:
        self.login_failures.inc()

    def login_locked_out(self, scope: str) -> None:
        self.login_lockouts.labels(scope).inc()

    def login_refused(self, scope: str) -> None:
        self.logins_refused.labels(scope).inc()

    def _child(self, family: Any, *labels: str) -> Any:
        # labels() takes a lock and builds a key on every call; on the send
        # path the same few children come back thousands of times a second.
        key = (id(family), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = family.labels(*labels)
        return found

    # --- proxy.ingest observer ------------------------------------------------------

    def report_matched(self, vendor: str, status: int, count: int = 1) -> None:
        self.reports.labels(vendor, STATUS_NAMES.get(status, "unknown")).inc(count)

    def report_unmatched(self, vendor: str) -> None:
        self.unmatched_reports.labels(vendor).inc()

    def reply_delivered(self, vendor: str) -> None:
        self.replies.labels(vendor).inc()

    def push_refused(self, vendor: str, reason: str) -> None:
        self.pushes_refused.labels(vendor, reason).inc()

    # --- routing.observer.RouteObserver -------------------------------------------

    def attempt(
        self,
        vendor: str,
        outcome: Outcome,
        recipients: int,
        segments: int,
        latency_s: float,
        cost: float,
    ) -> None:
        series = self._attempt_series.get((vendor, outcome))
        if series is None:
            series = self._attempt_series[(vendor, outcome)] = self._series_of(vendor, outcome)
        series.recipients.inc(recipients)
        series.segments.inc(segments)
        if latency_s >= 0:
            series.requests.inc()
            series.duration.observe(latency_s)
        if series.extra is not None:
            series.extra.inc(cost if outcome is Outcome.ACCEPTED else 1.0)

    def _series_of(self, vendor: str, outcome: Outcome) -> _AttemptSeries:
        o = outcome.value
        extra = (
            self.cost.labels(vendor)
            if outcome is Outcome.ACCEPTED
            else self.ambiguous.labels(vendor)
            if outcome is Outcome.AMBIGUOUS
            else None
        )
        return _AttemptSeries(
            self.recipients.labels(vendor, o),
            self.segments.labels(vendor, o),
            self.vendor_requests.labels(vendor, o),
            self.vendor_duration.labels(vendor),
            extra,
        )

    def failover(self, from_vendor: str, to_vendor: str, reason: Outcome) -> None:
        self.failovers.labels(from_vendor, to_vendor, reason.value).inc()

    def rate_wait(self, vendor: str, waited_s: float, gave_up: bool) -> None:
        self.rate_waits.labels(vendor, "true" if gave_up else "false").inc()
        self.rate_wait_seconds.labels(vendor).inc(waited_s)
