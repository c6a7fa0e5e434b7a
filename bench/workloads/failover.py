"""Failover under load: the cheapest vendor's balance runs out mid-run, nobody gets an SMS twice."""

from __future__ import annotations

from bench.workloads.books import check_books, stub_phones, stub_stats
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Runs, Workload, cost_rows, latency_rows

KEY = "failover"
TITLE = "failover under load (cheapest vendor's balance runs out)"


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    expected = min(s.failover_requests, (bench.saturation_rate or 2000) * s.duration_s)
    balance = max(10, int(expected // 3))
    w.title += f" (cheap vendor has {balance:,} segments)"
    stubs = {
        "cheap": ["--balance", str(balance), "--track"],
        "backup": ["--track"],
        "plain": [],
    }
    vendors = [("cheap", "cheap", 0.03), ("backup", "backup", 0.05)]
    options = LoadOptions(concurrency=s.failover_concurrency)
    with bench.components(KEY, stubs, vendors, "plain") as p:

        def load(target: str) -> Measured:
            return bench.load(
                p[target], measure=p[target], requests=s.failover_requests, options=options
            )

        lean, aio, proxy = (load(t) for t in ("lean", "aiohttp", "smsproxy"))
        books = {name: (stub_stats(p[name]), stub_phones(p[name])) for name in ("cheap", "backup")}
    runs = Runs(proxy, lean, aio)
    w.raw.update(runs.raw())
    w.raw["vendors"] = {name: stats for name, (stats, _) in books.items()}
    check = check_books(proxy.load["ok"], [phones for _, phones in books.values()])
    w.raw["books"] = check
    cheap, backup = books["cheap"][0], books["backup"][0]
    w.rows.append(runs.row("sends/s", "ok_per_s", decimals=1))
    w.rows += latency_rows(runs, added=False)
    w.rows += cost_rows(runs)
    failed = proxy.load["failed"]
    # Ran dry: it refused a send (-10), or the daemon, knowing its balance
    # from /qamount/, stopped at the last segment and never asked it in vain
    # (in a short run, when the first balance check comes before the load).
    ran_dry = int(cheap["refused"]) > 0 or cheap["balance"] == 0
    happened = ran_dry and cheap["accepted_sends"] > 0 and backup["accepted_sends"] > 0
    w.rows += [
        Row(
            "sends failed",
            failed,
            lean.load["failed"],
            aio.load["failed"],
            ratio=False,
            target="= 0",
            passed=failed == 0,
        ),
        Row(
            "sends duplicated (vendor books)",
            check["duplicated"],
            ratio=False,
            target="= 0",
            passed=check["duplicated"] == 0,
        ),
        Row(
            "sends answered 0, at no vendor",
            check["missing"],
            ratio=False,
            target="= 0",
            passed=check["missing"] == 0,
        ),
        Row(
            "failover happened mid-run",
            1.0 if happened else 0.0,
            ratio=False,
            target="cheap ran dry, backup took",
            passed=happened,
        ),
    ]
    w.notes.append(
        f"cheap vendor took {cheap['accepted_sends']:,} sends, then answered -10 to "
        f"{cheap['refused']:,}; backup took {backup['accepted_sends']:,}"
    )
