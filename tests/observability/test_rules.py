"""The Prometheus rules: promtool checks them and runs their unit tests."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.observability.panels import ALERTS, ALERTS_TEST, RULES_DIR, tool


def promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - promtool, with our own files
        [tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules_passes() -> None:
    run = promtool("check", "rules", str(ALERTS))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    run = promtool("test", "rules", ALERTS_TEST.name)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_the_example_prometheus_config_is_valid() -> None:
    run = promtool("check", "config", "prometheus.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    alerts = set(re.findall(r"^\s*- alert: (\w+)$", ALERTS.read_text(), re.MULTILINE))
    cases = re.findall(
        r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", ALERTS_TEST.read_text(), re.MULTILINE
    )
    fired = {name for name, empty in cases if not empty}
    quiet = {name for name, empty in cases if empty}
    assert len(alerts) >= 7, alerts
    assert alerts == fired, ("never tested firing", alerts - fired)
    assert alerts == quiet, ("never tested quiet", alerts - quiet)


def test_the_balance_horizon_is_one_recorded_knob() -> None:
    text = ALERTS.read_text()
    assert re.search(
        r"- record: smsproxy:balance_alert_horizon_hours\n\s+expr: vector\(\d+(\.\d+)?\)", text
    )
    running_out = text[text.index("alert: SmsproxyBalanceRunningOut") :]
    running_out = running_out[: running_out.index("- alert:")]
    assert "smsproxy:balance_alert_horizon_hours" in running_out
