"""The benchmark harness itself keeps working: every workload, every figure, in quick mode.

Tiny loads from the python generator only (no wrk), each run capped at about
a second, and no timing assertion: the figures are the benchmark's business,
its correctness checks (nothing failed, nothing sent twice) are this test's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import WORKLOADS, main

FIGURES = (
    "sends/s",
    "recipients/s",
    "latency p50 ms",
    "latency p99 ms",
    "added latency p50 ms",
    "added latency p99 ms",
    "peak RSS MB",
    "CPU ms per 1000 sends",
    "sends failed",
    "sends duplicated",
    "reports matched/s beside sends",
    "backlog at end: pending inbox rows",
)


def test_quick_bench_prints_every_figure_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    code = main(["--quick", "--json", str(out)])
    table = capsys.readouterr().out
    assert code == 0, table
    for figure in FIGURES:
        assert figure in table, f"{figure!r} missing from:\n{table}"
    assert "QUICK MODE" in table and "baseline" in table

    data = json.loads(out.read_text())
    workloads = {w["key"]: w for w in data["workloads"]}
    assert list(workloads) == list(WORKLOADS)
    for w in workloads.values():
        assert w["error"] is None, w["error"]
        if w["key"] == "reports":  # no baseline: a pass-through matches no reports
            continue
        assert w["raw"]["smsproxy"]["failed"] == 0, w["key"]
        assert w["raw"]["baseline"]["failed"] == 0, w["key"]

    failover = workloads["failover"]["raw"]
    assert failover["books"]["duplicated"] == 0
    assert failover["books"]["missing"] == 0
    cheap, backup = failover["vendors"]["cheap"], failover["vendors"]["backup"]
    assert cheap["refused"] > 0 and cheap["accepted_sends"] > 0 and backup["accepted_sends"] > 0
    assert workloads["fanout"]["raw"]["smsproxy"]["recipients_per_send"] == 1000

    # Every report the stub vendor made was polled, matched to its send and
    # queued for the client, on each engine the machine has.
    reports = workloads["reports"]["raw"]
    assert "sqlite" in reports
    for engine in ("sqlite", "redis"):
        if engine not in reports:
            continue
        run = reports[engine]
        assert run["failed"] == 0, engine
        assert run["held"] > 0 and run["vendor"]["reports_made"] >= run["held"], engine
        assert run["lost"] == 0 and run["drain_s"] is not None, (engine, run["inbox"])
        assert run["inbox"].get("reports.matched") == run["vendor"]["reports_made"], engine
        assert not run["inbox"].get("reports.unmatched"), engine
