"""Delivery reports polled from the vendor and matched, beside sends: matched/s beside sends/s."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor

from bench.components import Proc
from bench.redis_server import private_redis
from bench.workloads.books import get_json, stub_stats
from bench.workloads.daemon import ADMIN_TOKEN
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Workload

KEY = "reports"
TITLE = "delivery reports matched beside sends"


def run(bench: Bench, w: Workload) -> None:
    """Delivery reports polled from the vendor and matched, beside a send load.

    End to end, through the daemon's own poller, adapter, inbox, matcher
    and client queue: the stub vendor (``--reports``) makes a report of
    every recipient it accepts and hands them out on ``/qreport/`` as
    esms100 does (China-time seconds, no message id: the costliest rule
    of the matcher), up to 2,000 a poll; the daemon polls every
    ``report_poll_s`` (``reports.poll_interval_override_s``; esms100's
    own 5 s would cap the flow, not the matcher).

    1. Sends at saturation (as the saturation workload) while the stub
       holds the reports back: the saturation sends/s, and a backlog of
       one report per send waiting at the vendor.
    2. The stub lets them go and a steady send load (``rate_per_s``, as
       the latency workload) runs for ``duration_s``: reports matched/s
       over that window (from the inbox counts on the admin port), the
       backlog at its end (pending inbox rows, and reports still at the
       vendor), next to the sends/s.  The target: reports matched/s at
       least the saturation sends/s of step 1, i.e. a daemon sending
       flat out makes reports no faster than it can match them.
    3. The backlog is let clear (at most ``report_drain_s``); then every
       report the vendor made must have been matched to its send and
       queued, none unmatched or twice.

    Pushes (chuanglan, sms10000) are not exercised: a push carries one
    report an HTTP request, so its cost is the push receiver's, and its
    reports reach the same inbox and matcher as polled ones.  Run once
    on SQLite, and once on Redis when ``redis-server`` is installed (a
    private one, nothing on disk).
    """
    engines = ["sqlite"] + (["redis"] if shutil.which("redis-server") else [])
    for engine in engines:
        if engine == "sqlite":
            _reports_on(bench, w, engine, None)
            continue
        with private_redis(bench.workdir) as url:
            _reports_on(bench, w, engine, url)
    if "redis" not in engines:
        w.notes.append("redis-server is not installed: the Redis run is skipped")
    w.notes.append(
        "matched/s counts from the stub's release until the held reports are all matched "
        "(else to the end of the steady load); backlog: at the end of the steady load"
    )


def _reports_on(bench: Bench, w: Workload, engine: str, redis_url: str | None) -> None:
    s = bench.sizes
    stub_args = ["--reports", "--hold", "--report-batch", "2000"]
    name = f"reports-{engine}"
    vendors = [("stub", "stub", 0.04)]
    # No pass-through: it matches no reports.
    with bench.components(
        name,
        {"stub": stub_args},
        vendors,
        None,
        redis_url=redis_url,
        reports_poll_s=s.report_poll_s,
    ) as p:
        daemon, stub = p["smsproxy"], p["stub"]
        admin = str(daemon.ready["admin"])
        saturated = bench.load(
            daemon,
            measure=daemon,
            requests=s.saturation_requests,
            warmup=s.warmup,
            options=LoadOptions(concurrency=s.saturation_concurrency),
        )
        held = int(stub_stats(stub)["reports_waiting"])
        before = inbox_counts(admin).get("reports.matched", 0)
        started = time.monotonic()
        get_json(stub.url + "/_stub/release")
        with ThreadPoolExecutor(1) as pool:
            steady = pool.submit(
                bench.load,
                daemon,
                measure=daemon,
                requests=int(s.rate_per_s * s.duration_s),
                options=LoadOptions(mode="rate", rate=s.rate_per_s, concurrency=256),
            )
            # The held backlog's last report matched: until then the
            # matcher never lacked work, so the rate up to it is its own.
            cleared = watch_backlog(admin, before + held, steady)
            beside = steady.result()
        window_s = time.monotonic() - started
        after = inbox_counts(admin)
        at_vendor = int(stub_stats(stub)["reports_waiting"])
        drain_s = wait_drained(admin, stub, s.report_drain_s)
        final, books = inbox_counts(admin), stub_stats(stub)
    sends_per_s = float(saturated.load["ok_per_s"])
    if cleared is None:
        matched = after.get("reports.matched", 0) - before
        measured_s = window_s
    else:
        matched, measured_s = cleared[1] - before, cleared[0] - started
    per_s = matched / measured_s
    made, queued = int(books["reports_made"]), final.get("reports.matched", 0)
    failed = int(saturated.load["failed"]) + int(beside.load["failed"])
    w.raw[engine] = {
        "saturation": saturated.load,
        "beside": beside.load,
        "held": held,
        "window_s": window_s,
        "held_cleared_s": None if cleared is None else measured_s,
        "matched_in_window": matched,
        "reports_per_s": per_s,
        "backlog_pending": after.get("reports.pending", 0),
        "backlog_at_vendor": at_vendor,
        "drain_s": drain_s,
        "inbox": final,
        "vendor": books,
        "lost": made - queued,
        "failed": failed,
    }
    label = "SQLite" if engine == "sqlite" else "Redis"
    w.notes.append(
        f"{label}: matched/s over the {measured_s:.1f} s "
        + (
            f"the {held:,} held reports took to clear"
            if cleared is not None
            else "of the steady load (the held reports never cleared)"
        )
    )
    w.rows += [
        Row(f"{label}: sends/s at saturation", sends_per_s),
        Row("  reports held at the vendor meanwhile", held, ratio=False),
        Row("  sends/s beside the reports", beside.load["ok_per_s"]),
        Row(
            "  their latency p99 ms",
            beside.latency("p99"),
            ratio=False,
            decimals=2,
        ),
        Row("  reports matched/s beside sends", per_s, ratio=False),
        Row(
            "  matched/s over sends/s at saturation",
            per_s / sends_per_s if sends_per_s else None,
            ratio=False,
            target=">= 1",
            passed=None if s.quick else per_s >= sends_per_s,
            decimals=2,
        ),
        Row("  backlog at end: pending inbox rows", after.get("reports.pending", 0)),
        Row("  backlog at end: still at the vendor", at_vendor),
        Row("  backlog cleared after the load, s", drain_s, ratio=False, decimals=1),
        Row(
            "  reports not matched and queued",
            made - queued,
            ratio=False,
            target="= 0",
            passed=made == queued and drain_s is not None,
        ),
        Row("  sends failed", failed, ratio=False, target="= 0", passed=failed == 0),
    ]


def inbox_counts(admin_url: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    counts: dict[str, int] = get_json(admin_url + "/reports/unmatched", headers)["counts"]
    return counts


def watch_backlog(
    admin_url: str, target: int, running: Future[Measured]
) -> tuple[float, int] | None:
    """When (monotonic) the inbox's matched count reached ``target``, and that count.

    Sampled every 50 ms while ``running`` runs; None if it never got there.
    """
    while not running.done():
        matched = inbox_counts(admin_url).get("reports.matched", 0)
        if matched >= target:
            return time.monotonic(), matched
        time.sleep(0.05)
    return None


def wait_drained(admin_url: str, stub: Proc, limit_s: float) -> float | None:
    """Seconds until every report the vendor made is settled; None if it took too long.

    Settled, not merely gone from the vendor and the inbox: a poll's answer
    may be on its way into the inbox at the moment both look empty.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        made = int(stub_stats(stub)["reports_made"])
        counts = inbox_counts(admin_url)
        settled = sum(n for state, n in counts.items() if state.startswith("reports."))
        if settled - counts.get("reports.pending", 0) >= made:
            return time.monotonic() - started
        time.sleep(0.1)
    return None
