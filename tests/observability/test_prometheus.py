"""The dashboard and the rules against a real Prometheus scraping the real daemon.

One scenario (module fixture, about 20 s): the five simulators in-process,
the daemon as a subprocess on a private redis-server, Debian's
``prometheus`` scraping its admin port every second with
``grafana/prometheus/alerts.yaml`` loaded, and a few seconds of traffic
(sends, failover when the cheapest vendor runs dry and on refused content,
client mistakes, a resend, a rate-limit burst, an unclear answer, delivery
reports polled and pushed, one matching no send, replies, /qreport/ and /mo/
polls that leave some waiting), a hostile network's share (oversized,
garbled and stalled requests, the connection cap reached, forged pushes, a
password guesser locked out, one client's flood answered -15), and another
daemon's balance check written to Redis.  Then every query of every panel
is asked of Prometheus as Grafana would ask it, and must return series with
real (finite, non-zero) values.
"""

from __future__ import annotations

import asyncio
import math
import subprocess

import pytest

from tests.observability.panels import (
    ALERTS,
    PanelQuery,
    metric_names,
    panels,
    queries,
    tool,
)
from tests.observability.stack import Observed, observe

# A gauge of the moment: between sends it is 0, and 0 is its honest value; and
# failures that a Redis which answers every write never has.
ZERO_IS_DATA = {"Sends in flight", "Vendor state writes that failed"}

QUERIES = queries()


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    prometheus = tool("prometheus")
    return asyncio.run(observe(tmp_path_factory.mktemp("observability"), prometheus))


def test_promtool_check_metrics_passes_on_the_daemons_exposition(observed: Observed) -> None:
    assert "smsproxy_legacy_requests_total" in observed.exposition
    run = subprocess.run(  # noqa: S603 - promtool, reading what the daemon exported
        [tool("promtool"), "check", "metrics"],
        input=observed.exposition,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "" and run.stderr.strip() == "", run.stdout + run.stderr


def test_every_metric_the_dashboard_and_rules_name_is_exported(observed: Observed) -> None:
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in observed.exposition.splitlines()
        if line and not line.startswith("#")
    }
    named = metric_names(ALERTS.read_text(encoding="utf-8"))
    for q in QUERIES:
        named |= metric_names(q.expr)
    assert named, "no metric found in the dashboard"
    assert named <= exported, sorted(named - exported)


def test_every_metric_the_daemon_exports_is_on_the_dashboard(observed: Observed) -> None:
    families = {
        line.split()[2] for line in observed.exposition.splitlines() if line.startswith("# TYPE ")
    }
    assert len(families) >= 20, families
    shown = set().union(*(metric_names(q.expr) for q in QUERIES))
    missing = {
        f
        for f in families
        if not shown & {f, f + "_total", f + "_bucket", f + "_count", f + "_sum"}
    }
    assert not missing, sorted(missing)


def test_the_instance_variable_lists_the_daemon(observed: Observed) -> None:
    assert observed.instances == [observed.instance]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.id)
def test_panel_query_returns_series(observed: Observed, query: PanelQuery) -> None:
    assert query.id not in observed.errors, observed.errors[query.id]
    series = observed.results[query.id]
    assert series, f"no series for {query.expr}\n{observed.answers}\n{observed.log_tail()}"
    assert all(s.values for s in series)


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.id)
def test_panel_query_shows_the_traffic(observed: Observed, query: PanelQuery) -> None:
    """A finite value somewhere, and not only zeros (NaN: a ratio of nothing to nothing).

    Percentile panels may have NaN series (a vendor or endpoint nobody used in
    the window), and the balance horizon +Inf ones (a vendor that spent
    nothing): that is what they mean; but at least one value must be real.
    """
    values = [v for s in observed.results[query.id] for v in s.values]
    finite = [v for v in values if math.isfinite(v)]
    assert finite, f"only NaN or Inf for {query.expr}"
    if query.panel not in ZERO_IS_DATA:
        assert any(v != 0 for v in finite), f"only zeros for {query.expr}"


def test_every_panel_has_a_query() -> None:
    assert all(p["targets"] for p in panels())
    assert len({q.id for q in QUERIES}) == len(QUERIES)


def test_rules_evaluate_on_the_daemons_real_series(observed: Observed) -> None:
    assert observed.rules, "prometheus loaded no rule"
    broken = {r["name"]: r.get("lastError") for r in observed.rules if r["health"] != "ok"}
    assert not broken, broken
    recorded = {r["name"] for r in observed.rules if r["type"] == "recording"}
    assert "smsproxy:balance_alert_horizon_hours" in recorded


def test_the_drained_vendor_alert_goes_pending_and_nothing_worse(observed: Observed) -> None:
    active = {(s.labels["alertname"], s.labels.get("vendor", "")) for s in observed.alerts}
    assert ("SmsproxyVendorDrained", "chuanglan") in active, (active, observed.answers)
    names = {name for name, _ in active}
    assert not names & {"SmsproxyNoVendorRoutable", "SmsproxyVendorRejectsOurAccount"}, active
    assert "SmsproxyDown" not in names, active


def test_the_hostile_traffic_sets_off_its_alerts(observed: Observed) -> None:
    """A forged push alerts at once; the connection cap and the flood go pending."""
    states = {(s.labels["alertname"], s.labels["alertstate"]) for s in observed.alerts}
    assert ("SmsproxyPushesRefused", "firing") in states, states
    names = {name for name, _ in states}
    assert {"SmsproxyConnectionsRefused", "SmsproxySendsRefusedBusy"} <= names, states
    # Its vendors' pushes are authenticated (push_allowed_ips), and one lock-out is no alarm.
    assert not names & {"SmsproxyPushesUnconfigured", "SmsproxyLoginLockouts"}, states


def test_the_traffic_was_what_the_panels_expect(observed: Observed) -> None:
    answers = observed.answers
    assert answers["mt 0"] >= 20, answers
    for expected in ("mt -1", "mt -5", "mt -16", "mt -17", "ent -1", "qreport 0", "mo 0"):
        assert answers[expected] >= 1, (expected, answers)
    # The hostile traffic: a flood beyond the client's limit, a guesser locked out.
    for expected in ("mt -15", "qamount -9"):
        assert answers[expected] >= 1, (expected, answers)
