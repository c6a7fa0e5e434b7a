"""The five workloads of issue #7 and the reports one of issue #13, on fresh processes.

Every workload starts its own stub vendor(s), its own daemon (with a config
file written for it) and its own bare pass-through, so peak RSS is the
workload's own and no vendor state leaks from one workload to the next.
Load comes from another process: :mod:`bench.load`, and ``wrk`` for
the saturation workload when it is installed.  Every run uses its own block
of phone numbers, so the daemon's retry de-duplication never mistakes one
run's sends for another's.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import shlex
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import wrk
from bench.components import Proc, run_module, start_all, stop_all
from bench.redis_server import private_redis
from bench.stub import VENDOR_ZONE

CPID = "bench"
PASSWORD = "bench-pw-7f3a"  # noqa: S105 - the bench's own client account
CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
VENDOR_CPID = "stub"
VENDOR_PASSWORD = "stub-pw"  # noqa: S105 - the stub checks no password
ADMIN_TOKEN = "bench-admin-2c9e"  # noqa: S105 - the bench daemon's own, on loopback


@dataclass(frozen=True)
class Sizes:
    """How much load each workload gets: ``full`` for figures, ``quick`` to smoke-test."""

    quick: bool
    duration_s: float  # cap of one measured run
    warmup: int  # requests before a measured run (not counted)
    saturation_concurrency: int
    saturation_requests: int
    rate_per_s: float
    fanout_recipients: int
    fanout_concurrency: int
    fanout_requests: int
    slow_latency_s: float
    slow_in_flight: int
    slow_requests: int
    failover_concurrency: int
    failover_requests: int
    report_poll_s: float  # how often the daemon polls the stub for reports
    report_drain_s: float  # how long the backlog may take to clear after the load

    @classmethod
    def full(cls, duration_s: float = 8.0) -> Sizes:
        return cls(
            quick=False,
            duration_s=duration_s,
            warmup=1000,
            saturation_concurrency=32,
            saturation_requests=200_000,
            rate_per_s=1000.0,
            fanout_recipients=1000,
            fanout_concurrency=8,
            fanout_requests=20_000,
            slow_latency_s=0.2,
            slow_in_flight=5000,
            slow_requests=15_000,
            failover_concurrency=32,
            failover_requests=200_000,
            report_poll_s=0.1,
            report_drain_s=60.0,
        )

    @classmethod
    def quick_mode(cls, duration_s: float = 1.0) -> Sizes:
        return cls(
            quick=True,
            duration_s=duration_s,
            warmup=0,
            saturation_concurrency=8,
            saturation_requests=300,
            rate_per_s=300.0,
            fanout_recipients=1000,
            fanout_concurrency=2,
            fanout_requests=20,
            slow_latency_s=0.2,
            slow_in_flight=200,
            slow_requests=400,
            failover_concurrency=8,
            failover_requests=300,
            report_poll_s=0.1,
            report_drain_s=30.0,
        )


@dataclass
class Row:
    """One figure of one workload: smsproxy beside its baseline."""

    label: str
    proxy: float | None
    baseline: float | None = None
    direct: float | None = None
    ratio: bool = True  # print smsproxy / baseline
    target: str = ""
    passed: bool | None = None  # None: no target, or not checked
    decimals: int = 0


@dataclass
class Workload:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def verdicts(self) -> list[bool]:
        checked = [r.passed for r in self.rows if r.passed is not None]
        return [*checked, False] if self.error else checked


@dataclass
class Measured:
    load: dict[str, Any]
    cpu_s: float | None = None
    peak_rss_mb: float | None = None

    def cpu_ms_per_1000(self) -> float | None:
        done = int(self.load.get("completed", 0))
        if self.cpu_s is None or not done:
            return None
        return self.cpu_s / done * 1_000_000

    def latency(self, p: str) -> float | None:
        value = self.load.get("latency_ms", {}).get(p)
        return None if value is None else float(value)


class Bench:
    """Runs workloads in a work directory; one phone block per load run."""

    def __init__(self, workdir: Path, sizes: Sizes, use_wrk: bool = True) -> None:
        self.workdir = workdir
        self.sizes = sizes
        self.use_wrk = use_wrk and wrk.available()
        self._blocks = itertools.count()
        self.saturation_rate: float | None = None

    # --- plumbing ----------------------------------------------------------------------

    def first_phone(self) -> int:
        # Mainland mobiles run 13000000000-19999999999: 70 blocks of 10^8.
        return 13_000_000_000 + next(self._blocks) % 70 * 100_000_000

    def load(
        self,
        target: Proc,
        *,
        measure: Proc | None = None,
        mode: str = "closed",
        concurrency: int = 32,
        requests: int = 1000,
        rate: float = 1000.0,
        recipients: int = 1,
        same_text: bool = False,
        duration_s: float | None = None,
        drain_s: float = 30.0,
        warmup: int = 0,
    ) -> Measured:
        """One bounded load run against ``target``; CPU and RSS of ``measure``."""
        duration = self.sizes.duration_s if duration_s is None else duration_s

        def args(n: int, cap: float) -> list[str]:
            return [
                "bench.load",
                f"--url={target.url}",
                f"--mode={mode}",
                f"--concurrency={concurrency}",
                f"--requests={n}",
                f"--rate={rate}",
                f"--recipients={recipients}",
                f"--duration-s={cap}",
                f"--drain-s={drain_s}",
                f"--first-phone={self.first_phone()}",
                f"--cpid={CPID}",
                f"--cppwd={CPPWD}",
                *(["--same-text"] if same_text else []),
            ]

        if warmup:
            run_module(args(warmup, 5.0), timeout_s=5.0 + drain_s + 30)
        before = measure.cpu_s() if measure else None
        result = run_module(args(requests, duration), timeout_s=duration + drain_s + 30)
        if measure is None or before is None:
            return Measured(result)
        return Measured(result, measure.cpu_s() - before, measure.peak_rss_mb())

    def wrk_load(self, target: Proc, measure: Proc, requests: int) -> Measured:
        run_module(
            [
                "bench.load",
                f"--url={target.url}",
                f"--requests={self.sizes.warmup}",
                "--duration-s=5",
                f"--first-phone={self.first_phone()}",
                f"--cpid={CPID}",
                f"--cppwd={CPPWD}",
            ],
            timeout_s=40,
        )
        before = measure.cpu_s()
        result = wrk.run(
            target.url,
            self.workdir,
            cpid=CPID,
            cppwd=CPPWD,
            duration_s=self.sizes.duration_s,
            max_answers=requests,
            connections=self.sizes.saturation_concurrency,
            first_phone=self.first_phone(),
        )
        return Measured(result, measure.cpu_s() - before, measure.peak_rss_mb())

    def config(
        self,
        name: str,
        vendors: list[tuple[str, Proc, float]],
        redis_url: str | None = None,
        reports_poll_s: float | None = None,
    ) -> Path:
        """A daemon config for ``smsproxy run``: one client, the given stub vendors."""
        state = self.workdir / f"{name}.sqlite3"
        lines = [
            "[listen]",
            # Every listener on a free loopback port.
            *(f'{port} = "127.0.0.1:0"' for port in ("legacy", "admin", "push")),
            "[state]",
            f"path = {json.dumps(str(state))}",
            *(['engine = "redis"', f"redis_url = {json.dumps(redis_url)}"] if redis_url else []),
            *(
                ["[reports]", f"poll_interval_override_s = {reports_poll_s}"]
                if reports_poll_s
                else []
            ),
            "[legacy]",
            # One client drives every workload, thousands of sends at once in
            # some: as an operator with one such client would, it may have them.
            "max_sends_in_flight_per_client = 100000",
            "max_sends_waiting = 100000",
            "[admin]",
            f'token = "{ADMIN_TOKEN}"',
            "[shutdown]",
            "grace_s = 5",
            "[[clients]]",
            f'cpid = "{CPID}"',
            f'password = "{PASSWORD}"',
            "rate_per_s = 1000000  # the default (10/s, like esms100) would refuse the load",
        ]
        for vendor_name, stub, price in vendors:
            lines += [
                "[[vendors]]",
                'kind = "esms100"',
                f'name = "{vendor_name}"',
                f'base_url = "{stub.url}"',
                f"price_per_segment = {price}",
                "rate_per_s = 1000000",
                f'cpid = "{VENDOR_CPID}"',
                f'password = "{VENDOR_PASSWORD}"',
            ]
        path = self.workdir / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    @contextmanager
    def components(
        self,
        name: str,
        stubs: dict[str, list[str]],
        vendors: list[tuple[str, str, float]],
        passthrough_to: str,
        redis_url: str | None = None,
        reports_poll_s: float | None = None,
    ) -> Iterator[dict[str, Proc]]:
        """Stubs first (the daemon's config needs their ports), then daemon and pass-through."""
        procs: dict[str, Proc] = {}
        # Read by a daemon from before vendor time zones, which read esms100's
        # times in the process's zone; the stub writes China time.
        env = {"TZ": VENDOR_ZONE} if reports_poll_s else None
        try:
            procs.update(
                start_all(
                    [
                        (f"{name}-{stub}", ["bench.stub", *args], "stdout")
                        for stub, args in stubs.items()
                    ],
                    self.workdir,
                )
            )
            by_stub = {stub: procs[f"{name}-{stub}"] for stub in stubs}
            config = self.config(
                name,
                [(vn, by_stub[stub], price) for vn, stub, price in vendors],
                redis_url,
                reports_poll_s,
            )
            procs.update(
                start_all(
                    [
                        (
                            f"{name}-smsproxy",
                            [*daemon_module(), "run", "--config", str(config)],
                            "stderr",
                        ),
                        (
                            f"{name}-passthrough",
                            ["bench.passthrough", "--upstream", by_stub[passthrough_to].url],
                            "stdout",
                        ),
                    ],
                    self.workdir,
                    env,
                )
            )
            for stub in stubs:
                procs[stub] = procs.pop(f"{name}-{stub}")
            procs["smsproxy"] = procs.pop(f"{name}-smsproxy")
            procs["passthrough"] = procs.pop(f"{name}-passthrough")
            yield procs
        finally:
            stop_all(procs)

    # --- workloads -------------------------------------------------------------------

    def run(self, keys: list[str] | None = None) -> list[Workload]:
        chosen: list[tuple[str, str, Callable[[Workload], None]]] = [
            ("saturation", "single-recipient sends at saturation", self.saturation),
            ("latency", "single-recipient sends at a fixed rate", self.latency),
            ("fanout", "1000-recipient sends (fan-out into vendor chunks)", self.fanout),
            ("slow", "slow vendor (200 ms an answer), thousands in flight", self.slow),
            ("failover", "failover under load (cheapest vendor's balance runs out)", self.failover),
            ("reports", "delivery reports matched beside sends", self.reports),
        ]
        out = []
        for key, title, fn in chosen:
            if keys and key not in keys:
                continue
            workload = Workload(key, title)
            started = time.monotonic()
            try:
                fn(workload)
            except Exception as exc:  # one broken workload must not hide the others
                workload.error = f"{type(exc).__name__}: {exc}"
            workload.raw["wall_s"] = round(time.monotonic() - started, 1)
            out.append(workload)
        return out

    def saturation(self, w: Workload) -> None:
        s = self.sizes
        w.title += f" ({s.saturation_concurrency} connections)"
        with self.components("saturation", {"stub": []}, [("stub", "stub", 0.04)], "stub") as p:
            run = functools.partial(
                self.load,
                concurrency=s.saturation_concurrency,
                requests=s.saturation_requests,
                warmup=s.warmup,
            )
            direct = run(p["stub"])
            base = run(p["passthrough"], measure=p["passthrough"])
            proxy = run(p["smsproxy"], measure=p["smsproxy"])
            w.raw.update(direct=direct.load, baseline=base.load, smsproxy=proxy.load)
            self.saturation_rate = proxy.load["ok_per_s"]
            w.rows += throughput_rows(proxy, base, direct, "load.py", s.quick, 0.6)
            w.rows += cost_rows(proxy, base)
            if self.use_wrk:
                wbase = self.wrk_load(p["passthrough"], p["passthrough"], s.saturation_requests)
                wproxy = self.wrk_load(p["smsproxy"], p["smsproxy"], s.saturation_requests)
                w.raw.update(wrk_baseline=wbase.load, wrk_smsproxy=wproxy.load)
                w.rows += throughput_rows(wproxy, wbase, None, "wrk", s.quick, 0.6, floor=3000)
                w.rows.append(
                    Row(
                        "  CPU ms per 1000 sends (wrk)",
                        wproxy.cpu_ms_per_1000(),
                        wbase.cpu_ms_per_1000(),
                    )
                )
            elif not wrk.available():
                w.notes.append(f"wrk figures skipped: {wrk.INSTALL_HINT}")
            else:
                w.notes.append("wrk figures skipped (--quick or --no-wrk)")
        w.rows.append(failed_row(proxy, base))

    def latency(self, w: Workload) -> None:
        s = self.sizes
        w.title += f" ({s.rate_per_s:.0f}/s, open loop)"
        requests = int(s.rate_per_s * s.duration_s)
        with self.components("latency", {"stub": []}, [("stub", "stub", 0.04)], "stub") as p:
            run = functools.partial(
                self.load,
                mode="rate",
                rate=s.rate_per_s,
                concurrency=256,
                requests=requests,
                warmup=s.warmup,
            )
            direct = run(p["stub"])
            base = run(p["passthrough"], measure=p["passthrough"])
            proxy = run(p["smsproxy"], measure=p["smsproxy"])
        w.raw.update(direct=direct.load, baseline=base.load, smsproxy=proxy.load)
        w.rows.append(Row("sends/s achieved", proxy.load["ok_per_s"], base.load["ok_per_s"]))
        w.rows += latency_rows(proxy, base, direct)
        added_p99 = _minus(proxy.latency("p99"), direct.latency("p99"))
        w.rows.append(
            Row(
                "added latency p99 ms (target)",
                added_p99,
                _minus(base.latency("p99"), direct.latency("p99")),
                ratio=False,
                target="<= 5 ms",
                passed=None if s.quick or added_p99 is None else added_p99 <= 5.0,
                decimals=2,
            )
        )
        w.rows += cost_rows(proxy, base)
        w.rows.append(failed_row(proxy, base))

    def fanout(self, w: Workload) -> None:
        s = self.sizes
        w.title += (
            f" ({s.fanout_recipients} numbers a send, one campaign text, "
            f"{s.fanout_concurrency} connections)"
        )
        with self.components("fanout", {"stub": []}, [("stub", "stub", 0.04)], "stub") as p:
            run = functools.partial(
                self.load,
                concurrency=s.fanout_concurrency,
                requests=s.fanout_requests,
                recipients=s.fanout_recipients,
                same_text=True,
                warmup=s.warmup // 50,
            )
            direct = run(p["stub"])
            base = run(p["passthrough"], measure=p["passthrough"])
            proxy = run(p["smsproxy"], measure=p["smsproxy"])
            stats = stub_stats(p["stub"])
        w.raw.update(direct=direct.load, baseline=base.load, smsproxy=proxy.load, stub=stats)
        w.rows.append(
            Row(
                "sends/s",
                proxy.load["ok_per_s"],
                base.load["ok_per_s"],
                direct.load["ok_per_s"],
                decimals=1,
            )
        )
        rps = proxy.load["recipients_per_s"]
        w.rows.append(
            Row(
                "recipients/s",
                rps,
                base.load["recipients_per_s"],
                direct.load["recipients_per_s"],
                target=">= 100,000/s",
                passed=None if s.quick else rps >= 100_000,
            )
        )
        w.rows += latency_rows(proxy, base, direct)
        w.rows += cost_rows(proxy, base)
        w.rows.append(failed_row(proxy, base))

    def slow(self, w: Workload) -> None:
        s = self.sizes
        w.title += f" ({s.slow_in_flight} sends in flight)"
        stub_args = ["--latency-s", str(s.slow_latency_s)]
        with self.components("slow", {"stub": stub_args}, [("stub", "stub", 0.04)], "stub") as p:
            run = functools.partial(
                self.load,
                concurrency=s.slow_in_flight,
                requests=s.slow_requests,
                duration_s=max(s.duration_s, 3 * s.slow_requests / 1000),
                drain_s=40.0,
            )
            base = run(p["passthrough"], measure=p["passthrough"])
            proxy = run(p["smsproxy"], measure=p["smsproxy"])
        w.raw.update(baseline=base.load, smsproxy=proxy.load)
        w.rows.append(
            Row("sends in flight (most)", proxy.load["max_in_flight"], base.load["max_in_flight"])
        )
        w.rows.append(Row("sends/s", proxy.load["ok_per_s"], base.load["ok_per_s"], decimals=1))
        w.rows += latency_rows(proxy, base, None)
        rss = proxy.peak_rss_mb
        w.rows.append(
            Row(
                "peak RSS MB",
                rss,
                base.peak_rss_mb,
                target="<= 150 MB",
                passed=None if s.quick or rss is None else rss <= 150,
                decimals=1,
            )
        )
        w.rows.append(Row("CPU ms per 1000 sends", proxy.cpu_ms_per_1000(), base.cpu_ms_per_1000()))
        w.rows.append(failed_row(proxy, base))
        w.notes.append(
            "both the daemon and the pass-through hold at most 200 connections to a vendor "
            "(limit_per_host=200), so 5,000 in flight queue for a connection"
        )

    def failover(self, w: Workload) -> None:
        s = self.sizes
        expected = min(s.failover_requests, (self.saturation_rate or 2000) * s.duration_s)
        balance = max(10, int(expected // 3))
        w.title += f" (cheap vendor has {balance:,} segments)"
        stubs = {
            "cheap": ["--balance", str(balance), "--track"],
            "backup": ["--track"],
            "plain": [],
        }
        vendors = [("cheap", "cheap", 0.03), ("backup", "backup", 0.05)]
        with self.components("failover", stubs, vendors, "plain") as p:
            run = functools.partial(
                self.load,
                concurrency=s.failover_concurrency,
                requests=s.failover_requests,
            )
            base = run(p["passthrough"], measure=p["passthrough"])
            proxy = run(p["smsproxy"], measure=p["smsproxy"])
            books = {
                name: (stub_stats(p[name]), stub_phones(p[name])) for name in ("cheap", "backup")
            }
        w.raw.update(baseline=base.load, smsproxy=proxy.load)
        w.raw["vendors"] = {name: stats for name, (stats, _) in books.items()}
        check = check_books(proxy.load["ok"], [phones for _, phones in books.values()])
        w.raw["books"] = check
        cheap, backup = books["cheap"][0], books["backup"][0]
        w.rows.append(Row("sends/s", proxy.load["ok_per_s"], base.load["ok_per_s"], decimals=1))
        w.rows += latency_rows(proxy, base, None)
        w.rows += cost_rows(proxy, base)
        failed = proxy.load["failed"]
        w.rows.append(
            Row(
                "sends failed",
                failed,
                base.load["failed"],
                ratio=False,
                target="= 0",
                passed=failed == 0,
            )
        )
        w.rows.append(
            Row(
                "sends duplicated (vendor books)",
                check["duplicated"],
                ratio=False,
                target="= 0",
                passed=check["duplicated"] == 0,
            )
        )
        w.rows.append(
            Row(
                "sends answered 0, at no vendor",
                check["missing"],
                ratio=False,
                target="= 0",
                passed=check["missing"] == 0,
            )
        )
        happened = (
            cheap["refused"] > 0 and cheap["accepted_sends"] > 0 and backup["accepted_sends"] > 0
        )
        w.rows.append(
            Row(
                "failover happened mid-run",
                1.0 if happened else 0.0,
                ratio=False,
                target="cheap ran dry, backup took",
                passed=happened,
            )
        )
        w.notes.append(
            f"cheap vendor took {cheap['accepted_sends']:,} sends, then answered -10 to "
            f"{cheap['refused']:,}; backup took {backup['accepted_sends']:,}"
        )

    def reports(self, w: Workload) -> None:
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
                self._reports_on(w, engine, None)
                continue
            with private_redis(self.workdir) as url:
                self._reports_on(w, engine, url)
        if "redis" not in engines:
            w.notes.append("redis-server is not installed: the Redis run is skipped")
        w.notes.append(
            "matched/s counts from the stub's release until the held reports are all matched "
            "(else to the end of the steady load); backlog: at the end of the steady load"
        )

    def _reports_on(self, w: Workload, engine: str, redis_url: str | None) -> None:
        s = self.sizes
        stub_args = ["--reports", "--hold", "--report-batch", "2000"]
        name = f"reports-{engine}"
        vendors = [("stub", "stub", 0.04)]
        with self.components(
            name, {"stub": stub_args}, vendors, "stub", redis_url, s.report_poll_s
        ) as p:
            daemon, stub = p["smsproxy"], p["stub"]
            admin = str(daemon.ready["admin"])
            saturated = self.load(
                daemon,
                measure=daemon,
                concurrency=s.saturation_concurrency,
                requests=s.saturation_requests,
                warmup=s.warmup,
            )
            held = int(stub_stats(stub)["reports_waiting"])
            before = inbox_counts(admin).get("reports.matched", 0)
            started = time.monotonic()
            _get_json(stub.url + "/_stub/release")
            with ThreadPoolExecutor(1) as pool:
                steady = pool.submit(
                    self.load,
                    daemon,
                    measure=daemon,
                    mode="rate",
                    rate=s.rate_per_s,
                    concurrency=256,
                    requests=int(s.rate_per_s * s.duration_s),
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
            Row(
                "  reports matched/s beside sends",
                per_s,
                ratio=False,
                target=">= saturation sends/s",
                passed=None if s.quick else per_s >= sends_per_s,
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
    counts: dict[str, int] = _get_json(admin_url + "/reports/unmatched", headers)["counts"]
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


def daemon_module() -> list[str]:
    return shlex.split(os.environ.get("SMSPROXY_BENCH_DAEMON", "proxy.cli"))


# --- rows ----------------------------------------------------------------------------


def throughput_rows(
    proxy: Measured,
    base: Measured,
    direct: Measured | None,
    generator: str,
    quick: bool,
    min_ratio: float,
    floor: float | None = None,
) -> list[Row]:
    sends, base_sends = proxy.load["ok_per_s"], base.load["ok_per_s"]
    ratio = sends / base_sends if base_sends else 0.0
    target = f">= {min_ratio}x baseline" + (f", {floor:,.0f}/s" if floor else "")
    ok = ratio >= min_ratio and (floor is None or sends >= floor)
    return [
        Row(
            f"sends/s ({generator})",
            sends,
            base_sends,
            direct.load["ok_per_s"] if direct else None,
            target=target,
            passed=None if quick else ok,
        ),
        *(
            Row(
                f"  latency {p} ms ({generator})",
                proxy.latency(p),
                base.latency(p),
                direct.latency(p) if direct else None,
                ratio=False,
                decimals=2,
            )
            for p in ("p50", "p99")
        ),
    ]


def latency_rows(proxy: Measured, base: Measured, direct: Measured | None) -> list[Row]:
    rows = [
        Row(
            f"latency {p} ms",
            proxy.latency(p),
            base.latency(p),
            direct.latency(p) if direct else None,
            ratio=False,
            decimals=2,
        )
        for p in ("p50", "p99")
    ]
    if direct is not None:
        rows += [
            Row(
                f"added latency {p} ms",
                _minus(proxy.latency(p), direct.latency(p)),
                _minus(base.latency(p), direct.latency(p)),
                ratio=False,
                decimals=2,
            )
            for p in ("p50",)
        ]
    return rows


def cost_rows(proxy: Measured, base: Measured) -> list[Row]:
    return [
        Row("peak RSS MB", proxy.peak_rss_mb, base.peak_rss_mb, decimals=1),
        Row("CPU ms per 1000 sends", proxy.cpu_ms_per_1000(), base.cpu_ms_per_1000()),
    ]


def failed_row(proxy: Measured, base: Measured) -> Row:
    failed = proxy.load["failed"]
    return Row(
        "sends failed", failed, base.load["failed"], ratio=False, target="= 0", passed=failed == 0
    )


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- the vendors' books --------------------------------------------------------------


def _get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - our loopback stub
        return json.loads(resp.read())


def stub_stats(stub: Proc) -> dict[str, Any]:
    stats: dict[str, Any] = _get_json(stub.url + "/_stub/stats")
    return stats


def stub_phones(stub: Proc) -> dict[str, Any]:
    phones: dict[str, Any] = _get_json(stub.url + "/_stub/phones")
    return phones


def check_books(answered_ok: int, books: list[dict[str, Any]]) -> dict[str, int]:
    """Duplicates (a phone got the text twice, at one vendor or two) and sends lost.

    Every send of the failover workload has its own phone number, so one
    phone in the books twice is one duplicated SMS.
    """
    seen: dict[str, int] = {}
    duplicated = 0
    for book in books:
        duplicated += sum(int(c) - 1 for c in book["repeated"].values())
        for phone in book["phones"]:
            seen[phone] = seen.get(phone, 0) + 1
    duplicated += sum(c - 1 for c in seen.values() if c > 1)
    return {
        "distinct_phones": len(seen),
        "duplicated": duplicated,
        "missing": max(0, answered_ok - len(seen)),
    }
