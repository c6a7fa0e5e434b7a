"""Single-recipient sends at saturation: smsproxy (client quota on) beside the pass-throughs.

32 connections in a closed loop, every send one number and its own
verification code.  Two daemons run on the same stub: the operator's
config (client quota on), which every ratio is about, and the same config
without the quota, whose rate beside it is what the quota costs.

The quota's cost is a few per cent at most, smaller than what one run
differs from the next on a shared virtual machine (0.70 to 1.31 for the
same code in one session), so it is not read off one pair of runs: the
two daemons take turns in several pairs, each pair's order the other way
round from the last, and the cost is the median of the pairs' ratios.
"""

from __future__ import annotations

import statistics

from bench import wrk
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import (
    Measured,
    Row,
    Runs,
    Workload,
    cost_rows,
    failed_row,
    ratio,
    throughput_rows,
)

KEY = "saturation"
TITLE = "single-recipient sends at saturation"
MIN_RATIO = 0.3  # of the lean pass-through's sends/s
CPU_MAX_RATIO = 4.0  # of the lean pass-through's CPU a send
QUOTA_MIN_RATIO = 0.95  # sends/s with the quota on / off: the quota costs <= 5%
QUOTA_PAIRS = 5  # pairs of quota-on / quota-off runs, the first the main runs


def median_of(ratios: list[float | None]) -> float | None:
    known = [r for r in ratios if r is not None]
    return statistics.median(known) if known else None


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    w.title += f" ({s.saturation_concurrency} connections)"
    daemons = {"smsproxy": True, "noquota": False}
    with bench.components(
        KEY, {"stub": []}, [("stub", "stub", 0.04)], "stub", daemons=daemons
    ) as p:
        options = LoadOptions(concurrency=s.saturation_concurrency)

        def load(target: str, measured: bool = True) -> Measured:
            return bench.load(
                p[target],
                measure=p[target] if measured else None,
                requests=s.saturation_requests,
                warmup=s.warmup,
                options=options,
            )

        direct = load("stub", measured=False)
        lean, aio, proxy, noquota = (load(t) for t in ("lean", "aiohttp", "smsproxy", "noquota"))
        runs = Runs(proxy, lean, aio, direct)
        w.raw.update(runs.raw(), noquota=noquota.load)
        bench.saturation_rate = proxy.ok_per_s
        w.rows += throughput_rows(runs, "load.py", s.quick, MIN_RATIO)
        w.rows += cost_rows(runs, CPU_MAX_RATIO, s.quick)
        pairs = [ratio(proxy.ok_per_s, noquota.ok_per_s)]
        for i in range(1, 1 if s.quick else QUOTA_PAIRS):
            turns = ("noquota", "smsproxy") if i % 2 else ("smsproxy", "noquota")
            rates = {t: load(t).ok_per_s for t in turns}
            pairs.append(ratio(rates["smsproxy"], rates["noquota"]))
        w.raw["quota_pairs"] = pairs
        cost = median_of(pairs)
        w.rows += [
            Row("sends/s with the client quota off", noquota.ok_per_s, lean.ok_per_s),
            Row(
                f"  quota on / off (median, {len(pairs)} pair{'s' if len(pairs) > 1 else ''})",
                cost,
                ratio=False,
                target=f">= {QUOTA_MIN_RATIO} (costs <= 5%)",
                passed=None if s.quick or cost is None else cost >= QUOTA_MIN_RATIO,
                decimals=2,
            ),
            Row(
                "  CPU ms per 1000 sends, quota off",
                noquota.cpu_ms_per_1000(),
                lean.cpu_ms_per_1000(),
            ),
        ]
        if bench.use_wrk:
            wlean = bench.wrk_load(p["lean"], p["lean"], s.saturation_requests)
            wproxy = bench.wrk_load(p["smsproxy"], p["smsproxy"], s.saturation_requests)
            wruns = Runs(wproxy, wlean)
            w.raw.update(wrk_baseline=wlean.load, wrk_smsproxy=wproxy.load)
            w.rows += throughput_rows(wruns, "wrk", s.quick, MIN_RATIO)
            w.rows.append(
                Row(
                    "  CPU ms per 1000 sends (wrk)",
                    wproxy.cpu_ms_per_1000(),
                    wlean.cpu_ms_per_1000(),
                )
            )
        elif not wrk.available():
            w.notes.append(f"wrk figures skipped: {wrk.INSTALL_HINT}")
        else:
            w.notes.append("wrk figures skipped (--quick or --no-wrk)")
    w.rows.append(failed_row(runs))
    w.notes.append(
        "smsproxy runs the operator's config: client quota on (config/example.toml sets one), "
        "the example's dedup window; the quota-off daemon differs in that alone"
    )
