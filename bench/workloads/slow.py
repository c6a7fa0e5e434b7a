"""A slow vendor (200 ms an answer) with thousands of sends in flight: the memory they cost."""

from __future__ import annotations

from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Runs, Workload, failed_row, latency_rows

KEY = "slow"
TITLE = "slow vendor (200 ms an answer), thousands in flight"
MAX_RSS_MB = 150.0


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    w.title += f" ({s.slow_in_flight} sends in flight)"
    stub_args = ["--latency-s", str(s.slow_latency_s)]
    options = LoadOptions(concurrency=s.slow_in_flight)
    with bench.components(KEY, {"stub": stub_args}, [("stub", "stub", 0.04)], "stub") as p:

        def load(target: str) -> Measured:
            return bench.load(
                p[target],
                measure=p[target],
                requests=s.slow_requests,
                duration_s=max(s.duration_s, 3 * s.slow_requests / 1000),
                drain_s=40.0,
                options=options,
            )

        lean, aio, proxy = (load(t) for t in ("lean", "aiohttp", "smsproxy"))
    runs = Runs(proxy, lean, aio)
    w.raw.update(runs.raw())
    w.rows.append(runs.row("sends in flight (most)", "max_in_flight"))
    w.rows.append(runs.row("sends/s", "ok_per_s", decimals=1))
    w.rows += latency_rows(runs, added=False)
    rss = proxy.peak_rss_mb
    w.rows.append(
        Row(
            "peak RSS MB",
            rss,
            lean.peak_rss_mb,
            aio.peak_rss_mb,
            target=f"<= {MAX_RSS_MB:g} MB",
            passed=None if s.quick or rss is None else rss <= MAX_RSS_MB,
            decimals=1,
        )
    )
    w.rows.append(
        Row(
            "CPU ms per 1000 sends",
            proxy.cpu_ms_per_1000(),
            lean.cpu_ms_per_1000(),
            aio.cpu_ms_per_1000(),
        )
    )
    w.rows.append(failed_row(runs))
    w.notes.append(
        "the daemon and both pass-throughs hold at most 200 connections to a vendor, "
        "so 5,000 in flight queue for a connection"
    )
