"""The Grafana dashboard and the Prometheus rules, read as tests need them."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARD = GRAFANA / "smsproxy-dashboard.json"
RULES_DIR = GRAFANA / "prometheus"
ALERTS = RULES_DIR / "alerts.yaml"
ALERTS_TEST = RULES_DIR / "alerts_test.yaml"

# What Grafana would put in for its own variables when the tests ask Prometheus.
RATE_INTERVAL = "30s"
INTERVAL = "5s"
ALL_INSTANCES = ".*"  # the instance variable's "All" (its allValue)


def tool(name: str) -> str:
    """The path of a Prometheus tool; fail (not skip) without it: CI installs it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: `./dev test` installs Debian's prometheus package "
            "(or: apt-get install --no-install-recommends prometheus)"
        )
    return path


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every panel that shows data, rows unfolded (a collapsed row keeps its own)."""
    found: list[dict[str, Any]] = []
    for panel in (board or dashboard())["panels"]:
        if panel["type"] == "row":
            found += panel.get("panels", [])
        else:
            found.append(panel)
    return found


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref: str
    expr: str
    instant: bool  # asked at the end of the time range only, as Grafana does

    @property
    def id(self) -> str:
        return f"{self.panel} [{self.ref}]"


def queries() -> list[PanelQuery]:
    return [
        PanelQuery(p["title"], t["refId"], t["expr"], bool(t.get("instant")))
        for p in panels()
        for t in p["targets"]
    ]


def promql(expr: str, range_s: int) -> str:
    """A panel's expression as Grafana sends it: its variables filled in."""
    text = expr
    for name, value in (
        ("instance", ALL_INSTANCES),
        ("__rate_interval", RATE_INTERVAL),
        ("__interval", INTERVAL),
        ("__range", f"{range_s}s"),
    ):
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in text, f"a variable the tests do not know: {text}"
    return text


def metric_names(text: str) -> set[str]:
    """The raw metric names (not recorded series) an expression or a rules file names."""
    return set(re.findall(r"\bsmsproxy_[a-z_]+\b", text))
