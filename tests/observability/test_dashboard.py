"""The Grafana dashboard's shape: variables, descriptions, units, layout, filters."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.observability.panels import GRAFANA, dashboard, panels, queries

DS = {"type": "prometheus", "uid": "${datasource}"}
PANELS = panels()


def variable(name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        v for v in dashboard()["templating"]["list"] if v["name"] == name
    ]
    assert len(found) == 1, name
    return found[0]


def test_the_data_source_is_a_variable() -> None:
    ds = variable("datasource")
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"


def test_the_instance_variable_lists_the_daemons() -> None:
    instance = variable("instance")
    assert instance["type"] == "query"
    assert instance["datasource"] == DS
    assert instance["query"] == "label_values(smsproxy_build_info, instance)"
    assert instance["definition"] == instance["query"]
    assert instance["includeAll"] and instance["multi"] and instance["allValue"] == ".*"


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p["title"])
def test_every_panel_says_what_it_shows_and_in_what_unit(panel: dict[str, Any]) -> None:
    assert len(panel.get("description", "")) >= 40, panel["title"]
    assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
    assert panel["datasource"] == DS
    assert panel["targets"]
    for t in panel["targets"]:
        assert t["datasource"] == DS
        assert t["expr"].strip()


@pytest.mark.parametrize("query", queries(), ids=lambda q: q.id)
def test_every_series_selector_follows_the_instance_variable(query: Any) -> None:
    selectors = re.findall(r"\b(smsproxy_[a-z_]+)(\{[^}]*\})?", query.expr)
    assert selectors
    for name, matchers in selectors:
        assert 'instance=~"$instance"' in matchers, (name, query.expr)


def test_panels_have_unique_ids_and_titles_and_do_not_overlap() -> None:
    every = dashboard()["panels"]
    assert len({p["id"] for p in every}) == len(every)
    assert len({p["title"] for p in PANELS}) == len(PANELS)
    cells: set[tuple[int, int]] = set()
    for p in every:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, p["title"]
        cells |= mine


def test_the_dashboard_covers_what_the_issue_asks_for() -> None:
    exprs = "\n".join(q.expr for q in queries())
    for needed in (
        "smsproxy_legacy_requests_total",  # traffic and answer codes
        'outcome="accepted"',  # acceptance
        'status="delivered"',  # delivery ratio
        "smsproxy_failovers_total",
        "histogram_quantile(0.99, sum by (le, vendor) "
        "(rate(smsproxy_vendor_request_duration_seconds_bucket",  # vendor latency percentiles
        "smsproxy_vendor_balance_yuan",
        "smsproxy_vendor_balance_segments",  # balance horizon (burn rate)
        "smsproxy_vendor_state",
        "smsproxy_cost_yuan_total",
        "smsproxy_queue_depth",
        "smsproxy_queue_oldest_age_seconds",
        "smsproxy_replies_total",
        # issue #14: a hostile network and overload
        "smsproxy_http_refusals_total",
        "smsproxy_http_connections",
        "smsproxy_pushes_refused_total",
        "smsproxy_login_failures_total",
        "smsproxy_login_lockouts_total",
        "smsproxy_logins_refused_total",
        "smsproxy_sends_refused_busy_total",
        # issue #17: what several daemons share of vendors through Redis
        "smsproxy_vendor_states_shared_total",
        "smsproxy_vendor_states_taken_total",
        "smsproxy_vendor_state_share_failures_total",
    ):
        assert needed in exprs, needed


def test_provisioning_files_name_the_dashboard_folder_and_prometheus() -> None:
    dashboards = (GRAFANA / "provisioning" / "dashboards" / "smsproxy.yaml").read_text()
    assert "type: file" in dashboards and "path:" in dashboards
    sources = (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    assert "type: prometheus" in sources and "url:" in sources
