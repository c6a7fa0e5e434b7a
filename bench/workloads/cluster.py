"""Saturation on SQLite beside Redis, and two daemons behind HAProxy beside one (issue 17).

The saturation load (closed loop, every send its own number) against four
setups, one after the other, each with its own stub vendor keeping books:

1. one daemon on SQLite (the lean pass-through runs beside it: the
   baseline of every ratio, as in the saturation workload);
2. one daemon on Redis (a private ``redis-server``, emptied before each
   setup);
3. that daemon behind HAProxy, ``deploy/haproxy.cfg`` as shipped
   (:mod:`bench.haproxy`: PROXY protocol v2, health checks), the daemon
   with ``listen.proxy_protocol`` and ``listen.trusted_proxies``;
4. two such daemons on the one Redis behind it.

Each is one number, no target: sends/s, latency, the daemons' CPU a send
(summed over the daemons), HAProxy's and Redis' beside it; then Redis over
SQLite, HAProxy over direct and two daemons over one.  What is checked:
nothing failed, and the vendor's books hold every number answered ``0``
once.
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from bench import haproxy
from bench.components import Proc
from bench.redis_server import RedisServer, start_redis_server
from bench.workloads.books import check_books, stub_phones
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Workload, ratio

KEY = "cluster"
TITLE = "saturation on SQLite and Redis, one and two daemons behind HAProxy"


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    daemons: int
    redis: bool
    haproxy: bool


SETUPS = (
    Setup("sqlite", "SQLite, 1 daemon", 1, redis=False, haproxy=False),
    Setup("redis", "Redis, 1 daemon", 1, redis=True, haproxy=False),
    Setup("haproxy1", "Redis, 1 daemon, HAProxy", 1, redis=True, haproxy=True),
    Setup("haproxy2", "Redis, 2 daemons, HAProxy", 2, redis=True, haproxy=True),
)


@dataclass
class Outcome:
    """One setup's measured run and what each process spent on it."""

    run: Measured  # CPU: the daemons', summed
    books: dict[str, int]
    daemon_cpu_s: list[float]
    daemon_sends: list[int]  # answered 0, by each daemon's own count
    haproxy_cpu_s: float | None = None
    redis_cpu_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def per_1000(self, cpu_s: float | None) -> float | None:
        done = int(self.run.load.get("completed", 0))
        return None if cpu_s is None or not done else cpu_s / done * 1_000_000


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    w.title += f" ({s.saturation_concurrency} connections)"
    missing = _missing()
    outcomes: dict[str, Outcome] = {}
    lean: Measured | None = None
    with _redis(bench, "redis" not in missing) as server:
        for setup in SETUPS:
            if (setup.redis and "redis" in missing) or (setup.haproxy and "haproxy" in missing):
                continue
            outcome, lean_run = _measure(bench, setup, server)
            outcomes[setup.key] = outcome
            lean = lean or lean_run
    assert lean is not None  # the SQLite setup always runs, and the lean beside it
    w.raw["baseline"] = lean.load
    w.raw.update({key: o.raw for key, o in outcomes.items()})
    for setup in SETUPS:
        if setup.key in outcomes:
            w.rows += _rows(setup, outcomes[setup.key], lean)
    w.rows += _comparisons(outcomes)
    w.notes += [f"{why}: those setups are skipped" for why in missing.values()]
    w.notes += _notes(outcomes)


def _missing() -> dict[str, str]:
    """What this machine lacks for some setups, and why."""
    missing = {}
    if shutil.which("redis-server") is None:
        missing["redis"] = "redis-server is not installed (as root: apt-get install redis-server)"
    if haproxy.binary() is None:
        missing["haproxy"] = haproxy.INSTALL_HINT
    return missing


@contextmanager
def _redis(bench: Bench, wanted: bool) -> Iterator[RedisServer | None]:
    if not wanted:
        yield None
        return
    server = start_redis_server(bench.workdir)
    try:
        yield server
    finally:
        server.stop()


def _measure(
    bench: Bench, setup: Setup, server: RedisServer | None
) -> tuple[Outcome, Measured | None]:
    """Start the setup's processes, warm them up, run the load once; the lean too with SQLite."""
    s = bench.sizes
    options = LoadOptions(concurrency=s.saturation_concurrency)
    redis_url = None
    if setup.redis:
        assert server is not None
        redis_url = server.url
        # Every setup starts on empty state, as the SQLite one on a new file.
        with redis.Redis.from_url(redis_url) as client:
            client.flushall()
    names = ["smsproxy", *(f"smsproxy{i}" for i in range(2, setup.daemons + 1))]
    stubs = {"stub": ["--track"], **({} if setup.redis else {"plain": []})}
    with bench.components(
        f"{KEY}-{setup.key}",
        stubs,
        [("stub", "stub", 0.04)],
        None if setup.redis else "plain",
        daemons=dict.fromkeys(names, True),
        aiohttp=False,
        redis_url=redis_url,
        proxy_from=haproxy.TRUSTED if setup.haproxy else None,
    ) as p:
        daemons = [p[name] for name in names]
        lean = None
        if "lean" in p:
            lean = bench.load(
                p["lean"],
                measure=p["lean"],
                requests=s.saturation_requests,
                warmup=s.warmup,
                options=options,
            )
        front = None
        if setup.haproxy:
            front = haproxy.start(
                bench.workdir,
                f"{KEY}-{setup.key}-haproxy",
                [(d.port, _admin_port(d)) for d in daemons],
            )
        try:
            target = daemons[0] if front is None else Proc(front.child, front.port, {})
            warm = bench.load(target, requests=s.warmup, options=options) if s.warmup else None
            before = _cpu(daemons, front, server if setup.redis else None)
            measured = bench.load(target, requests=s.saturation_requests, options=options)
            after = _cpu(daemons, front, server if setup.redis else None)
            books = stub_phones(p["stub"])
            sends = [sends_answered_ok(d, setup.haproxy) for d in daemons]
        finally:
            if front is not None:
                front.stop()
    spent = {k: after[k] - before[k] for k in before}
    daemon_cpu = [spent[f"daemon{i}"] for i in range(len(daemons))]
    run = Measured(measured.load, sum(daemon_cpu))
    answered = int(measured.load["distinct_ok"]) + (0 if warm is None else int(warm.load["ok"]))
    checked = check_books(answered, [books])
    outcome = Outcome(run, checked, daemon_cpu, sends, spent.get("haproxy"), spent.get("redis"))
    outcome.raw = {
        "smsproxy": measured.load,
        "books": checked,
        "cpu_s": spent,
        "sends_by_daemon": sends,
    }
    return outcome, lean


def _admin_port(daemon: Proc) -> int:
    return int(str(daemon.ready["admin"]).rsplit(":", 1)[1])


def sends_answered_ok(daemon: Proc, behind_proxy: bool) -> int:
    """``/mt/`` requests the daemon answered ``0`` since it started: its own metric."""
    if behind_proxy:
        text = haproxy.get_as_balancer("127.0.0.1", _admin_port(daemon), "/metrics")
    else:
        url = f"{daemon.ready['admin']}/metrics"
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
            text = resp.read()
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == "smsproxy_legacy_requests_total"
        and sample.labels == {"endpoint": "mt", "code": "0"}
    )


def _cpu(
    daemons: list[Proc], front: haproxy.HAProxy | None, server: RedisServer | None
) -> dict[str, float]:
    cpu = {f"daemon{i}": d.cpu_s() for i, d in enumerate(daemons)}
    if front is not None:
        cpu["haproxy"] = front.cpu_s()
    if server is not None:
        cpu["redis"] = server.child.cpu_s()
    return cpu


def _rows(setup: Setup, o: Outcome, lean: Measured) -> list[Row]:
    m, books = o.run, o.books
    failed = int(m.load["failed"])
    rows = [
        Row(f"{setup.label}: sends/s", m.ok_per_s, lean.ok_per_s),
        *(
            Row(f"  latency {p} ms", m.latency(p), lean.latency(p), ratio=False, decimals=2)
            for p in ("p50", "p99")
        ),
        Row(
            "  CPU ms per 1000 sends" + (", daemons summed" if setup.daemons > 1 else ""),
            m.cpu_ms_per_1000(),
            lean.cpu_ms_per_1000(),
        ),
    ]
    if o.haproxy_cpu_s is not None:
        rows.append(Row("  CPU ms per 1000 sends, HAProxy", o.per_1000(o.haproxy_cpu_s)))
    if o.redis_cpu_s is not None:
        rows.append(Row("  CPU ms per 1000 sends, redis-server", o.per_1000(o.redis_cpu_s)))
    rows += [
        Row("  sends failed", failed, ratio=False, target="= 0", passed=failed == 0),
        Row(
            "  sends duplicated (vendor books)",
            books["duplicated"],
            ratio=False,
            target="= 0",
            passed=books["duplicated"] == 0,
        ),
        Row(
            "  sends answered 0, at no vendor",
            books["missing"],
            ratio=False,
            target="= 0",
            passed=books["missing"] == 0,
        ),
    ]
    return rows


def _comparisons(outcomes: dict[str, Outcome]) -> list[Row]:
    """Redis over SQLite, HAProxy over direct, two daemons over one: sends/s and CPU a send."""
    pairs = (
        ("Redis / SQLite", "redis", "sqlite"),
        ("HAProxy / direct (Redis)", "haproxy1", "redis"),
        ("2 daemons / 1 (Redis, HAProxy)", "haproxy2", "haproxy1"),
    )
    rows = []
    for label, a, b in pairs:
        if a not in outcomes or b not in outcomes:
            continue
        first, second = outcomes[a].run, outcomes[b].run
        rows += [
            Row(
                f"{label}: sends/s",
                ratio(first.ok_per_s, second.ok_per_s),
                ratio=False,
                decimals=2,
            ),
            Row(
                "  CPU a send (daemons)",
                ratio(first.cpu_ms_per_1000(), second.cpu_ms_per_1000()),
                ratio=False,
                decimals=2,
            ),
        ]
    return rows


def _notes(outcomes: dict[str, Outcome]) -> list[str]:
    notes = [
        "no target: figures for issue 17; the lean pass-through (direct, on its own stub) is "
        "the baseline of the ratio column; HAProxy runs deploy/haproxy.cfg with the bench's ports"
    ]
    two = outcomes.get("haproxy2")
    if two is not None:
        sends = " / ".join(f"{n:,}" for n in two.daemon_sends)
        cpu = " / ".join(f"{c:.2f}" for c in two.daemon_cpu_s)
        notes.append(
            f"two daemons (HAProxy's leastconn): sends answered 0 by each {sends} "
            f"(warm-up included), CPU s of each in the measured run {cpu}"
        )
    notes.append(
        "two daemons cannot be expected to scale on a 2-core machine: they share its two cores "
        "with HAProxy, redis-server, the load generator and the stub vendor; the figure shows "
        "what a second daemon costs there, not what a second host would add"
    )
    return notes
