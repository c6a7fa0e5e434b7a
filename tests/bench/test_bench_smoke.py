"""The benchmark harness itself keeps working: every workload, every figure, in quick mode.

Tiny loads from the python generator only (no wrk), each run capped at about
a second, and no timing assertion: the figures are the benchmark's business,
its correctness checks (nothing failed, nothing sent twice) are this test's.
Where Debian's Kannel is installed the peer runs too and is checked; the
test does not need it (the peer is an option of the bench, not a workload).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import kannel
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
    "matched/s over sends/s at saturation",
    "backlog at end: pending inbox rows",
    "sends/s with the client quota off",
    "quota on / off (its cost)",
    "CPU ms per send",
    "state bytes per recipient (file + WAL)",
    "retries answered 0",
    "sends/s at saturation",
    "SQLite, 1 daemon: sends/s",
    "Redis, 1 daemon: sends/s",
    "Redis, 1 daemon, HAProxy: sends/s",
    "Redis, 2 daemons, HAProxy: sends/s",
    "CPU ms per 1000 sends, daemons summed",
    "CPU ms per 1000 sends, HAProxy",
    "CPU ms per 1000 sends, redis-server",
    "Redis / SQLite: sends/s",
    "HAProxy / direct (Redis): sends/s",
    "2 daemons / 1 (Redis, HAProxy): sends/s",
)
PEER_FIGURES = ("accepted/s (answered as taken)", "delivered to the vendor/s (at the stub)")


def test_quick_bench_prints_every_figure_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    # ./dev test installs Kannel: the peer column is part of what this checks.
    assert kannel.available(), "Kannel is missing: run ./dev test, which installs Debian's kannel"
    peer = ["--peer", "kannel"]
    code = main(["--quick", "--json", str(out), *peer])
    table = capsys.readouterr().out
    assert code == 0, table
    for figure in FIGURES + (PEER_FIGURES if peer else ()):
        assert figure in table, f"{figure!r} missing from:\n{table}"
    assert "QUICK MODE" in table and "lean" in table and "aiohttp" in table

    data = json.loads(out.read_text())
    workloads = {w["key"]: w for w in data["workloads"]}
    assert list(workloads) == [*WORKLOADS, *(["peer-kannel"] if peer else [])]
    for w in workloads.values():
        assert w["error"] is None, w["error"]
        # Whether the machine was quiet meanwhile (bench/quiet.py).
        assert w["raw"]["others_cpus"] >= 0, w["key"]
        if w["key"] in ("reports", "cluster", "peer-kannel"):  # checked below
            continue
        assert w["raw"]["smsproxy"]["failed"] == 0, w["key"]
        assert w["raw"]["baseline"]["failed"] == 0, w["key"]

    # The lean pass-through carried the same load: it is the baseline of every ratio.
    saturation = workloads["saturation"]["raw"]
    assert saturation["baseline"]["ok"] == saturation["smsproxy"]["ok"] > 0
    assert saturation["noquota"]["failed"] == 0 and saturation["noquota"]["ok"] > 0
    assert saturation["aiohttp"]["ok"] == saturation["smsproxy"]["ok"]

    # Every retry answered 0 and no number twice at the vendor; the lean
    # pass-through resends retries, so the same check finds its duplicates.
    retries = workloads["retries"]["raw"]
    assert retries["smsproxy"]["retries"] > 0
    assert retries["smsproxy"]["retries_ok"] == retries["smsproxy"]["retries"]
    assert retries["books"] == {**retries["books"], "duplicated": 0, "missing": 0}
    assert retries["lean_books"]["duplicated"] == retries["baseline"]["retries"] > 0

    fanout = workloads["fanout"]["raw"]
    assert fanout["recipients_sent"] >= fanout["smsproxy"]["ok"] * 1000
    assert fanout["state_bytes"] > 0
    assert workloads["contention"]["raw"]["burner_cpu_s"] > 0.5

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

    # Every setup of the cluster workload ran (./dev test installs redis-server
    # and haproxy), lost nothing and sent nothing twice; behind HAProxy both
    # daemons answered sends, by their own count.
    cluster = workloads["cluster"]["raw"]
    assert cluster["baseline"]["failed"] == 0 and cluster["baseline"]["ok"] > 0
    for setup in ("sqlite", "redis", "haproxy1", "haproxy2"):
        run = cluster[setup]
        assert run["smsproxy"]["failed"] == 0 and run["smsproxy"]["ok"] > 0, setup
        assert run["books"] == {**run["books"], "duplicated": 0, "missing": 0}, setup
        assert run["books"]["distinct_phones"] >= run["smsproxy"]["ok"], setup
    # HAProxy's CPU is measured where it runs.  Not "> 0": a quick run's few
    # hundred requests can cost it less than a clock tick (0.0 in a CI run).
    assert cluster["haproxy1"]["cpu_s"]["haproxy"] >= 0
    assert "haproxy" not in cluster["redis"]["cpu_s"]
    assert len(cluster["haproxy2"]["sends_by_daemon"]) == 2
    assert all(n > 0 for n in cluster["haproxy2"]["sends_by_daemon"])
    # Quick mode has no warm-up: the daemons answered the measured sends alone.
    assert sum(cluster["haproxy2"]["sends_by_daemon"]) == cluster["haproxy2"]["smsproxy"]["ok"]

    if peer:
        for key, run in workloads["peer-kannel"]["raw"].items():
            if key in ("wall_s", "others_cpus", "rounds"):  # the workload's, not a run's
                continue
            assert run["load"]["failed"] == 0, key
            # Kannel answers on enqueue: what it accepted must still reach the vendor.
            assert run["delivered"] == run["load"]["ok"] > 0, key
        assert len(workloads["peer-kannel"]["raw"]["rounds"]) == 1  # quick: one round
