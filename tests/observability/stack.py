"""Five simulators, the daemon as a process on a private Redis, a real Prometheus
scraping it, and traffic.

:func:`observe` runs the whole scenario in a bounded time and returns what a
dashboard would have shown: the result of every panel query, asked of
Prometheus' HTTP API exactly as Grafana would (its variables filled in).
Every process it starts is stopped in a ``finally``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from adapters.simulator import SimulatorServer
from adapters.simulators import VENDOR_KINDS
from adapters.sms10000 import wire as sms10000_wire
from bench.procs import Child
from core.outcome import Outcome
from proxy.store.redis.store import RedisStore
from tests.e2e.daemon_process import DaemonProcess, toml_value
from tests.observability.panels import ALERTS, promql, queries
from tests.redis_server import start_redis_server

CPID, PASSWORD = "acme", "acme-pass"
CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
# A second client whose flood meets its own limit of sends in flight (-15).
BATCH, BATCH_PASSWORD = "batch", "batch-pass"
BATCH_CPPWD = hashlib.md5(BATCH_PASSWORD.encode()).hexdigest().upper()
# Cheapest first.  chuanglan's balance runs out during the traffic, so the
# traffic fails over to smscn, whose own rate limit makes a burst wait.
PRICES = {"chuanglan": 0.030, "smscn": 0.035, "sms10000": 0.040, "esms100": 0.045, "c123": 0.050}
CHUANGLAN_SEGMENTS = 38  # exactly six rounds of sends (see drive_traffic)
SMSCN_RATE_PER_S = 5
ROUNDS = 12
SCENARIO_TIMEOUT_S = 120.0
SCRAPE_INTERVAL = "1s"
# The [http], [login] and [legacy] limits, small enough for the hostile
# traffic (drive_hostile_traffic) to reach them in a second or two.
MAX_CONNECTIONS = 32  # per port: the sends' own pool stays well below it
HTTP_TIMEOUT_S = 1.0  # head and body: a stalled request is answered 408 after it
# Above the wrong passwords the traffic's own client makes from 127.0.0.1
# (one a round, and /ent/'s oldpwd), so only the guesser's address is locked out.
MAX_LOGIN_FAILURES_PER_ADDRESS = 20
GUESSER = "127.0.0.2"  # the password guesser's address: loopback, but not the client's
MAX_SENDS_PER_CLIENT = 8  # the rate-limit burst (8 sends at once) just fits
FLOOD = 12  # batch's sends at once: MAX_SENDS_PER_CLIENT go, the rest are answered -15
# batch's rate: of FLOOD sends at once, the last two are over it (-15, unsent) and
# the rest meet its limit in flight.
BATCH_RATE_PER_S = FLOOD - 2
FLOOD_LATENCY_S = 0.5  # vendors answer slowly meanwhile, so the admitted sends stay in flight
# The daemon keeps its state in Redis, as daemons behind a load balancer do, so
# what they share of vendors shows; another daemon's write is made by hand.
PREFIX = "observability:"
OTHER_DAEMON = "another-daemon:1:0"


@dataclass
class Series:
    labels: dict[str, str]
    values: list[float]


@dataclass
class Observed:
    exposition: str = ""
    instance: str = ""
    range_s: int = 0
    results: dict[str, list[Series]] = field(default_factory=dict)  # by PanelQuery.id
    errors: dict[str, str] = field(default_factory=dict)  # Prometheus' errors, by query id
    instances: list[str] = field(default_factory=list)  # label_values(smsproxy_build_info, …)
    rules: list[dict[str, Any]] = field(default_factory=list)  # from /api/v1/rules
    alerts: list[Series] = field(default_factory=list)  # ALERTS over the run
    answers: Counter[str] = field(default_factory=Counter)  # "endpoint code" -> count
    logs: dict[str, Path] = field(default_factory=dict)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name, path in self.logs.items():
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            out.append(f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)


# --------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp: Path, sims: dict[str, SimulatorServer], redis_url: str) -> Path:
    lines = [
        "[listen]",
        'legacy = "127.0.0.1:0"',
        'admin = "127.0.0.1:0"',
        'push = "127.0.0.1:0"',
        "[state]",
        f"path = {toml_value(tmp / 'state.sqlite3')}",  # beside it, the poll spool
        'engine = "redis"',
        f"redis_url = {toml_value(redis_url)}",
        f"redis_prefix = {toml_value(PREFIX)}",
        "[routing]",
        "send_deadline_s = 3.0",
        "rate_wait_s = 1.0",
        "[shutdown]",
        "grace_s = 2.0",
        "[reports]",
        "poll_interval_override_s = 0.5",
        "unmatched_retry_s = 0",
        "[http]",
        f"max_connections = {MAX_CONNECTIONS}",
        f"head_timeout_s = {HTTP_TIMEOUT_S}",
        f"body_timeout_s = {HTTP_TIMEOUT_S}",
        "[login]",
        f"max_failures_per_address = {MAX_LOGIN_FAILURES_PER_ADDRESS}",
        "[legacy]",
        f"max_sends_in_flight_per_client = {MAX_SENDS_PER_CLIENT}",
    ]
    for cpid, password, rate in ((CPID, PASSWORD, 200), (BATCH, BATCH_PASSWORD, BATCH_RATE_PER_S)):
        lines += [
            "[[clients]]",
            f"cpid = {toml_value(cpid)}",
            f"password = {toml_value(password)}",
            f"rate_per_s = {rate}",
        ]
    for kind, server in sims.items():
        entry: dict[str, Any] = {
            "kind": kind,
            "name": kind,
            "base_url": server.url,
            "price_per_segment": PRICES[kind],
            "timeout_s": 1.0,
            "connect_timeout_s": 0.5,
            **server.simulator.credentials(),
        }
        if kind == "smscn":
            entry["rate_per_s"] = SMSCN_RATE_PER_S
        lines.append("[[vendors]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in entry.items() if v is not None]
    config = tmp / "smsproxy.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@asynccontextmanager
async def prometheus_process(prometheus: str, tmp: Path, target: str) -> AsyncIterator[str]:
    """Prometheus scraping ``target`` every second with the project's rules; yields its URL."""
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: {SCRAPE_INTERVAL}
  scrape_timeout: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
rule_files:
  - {json.dumps(str(ALERTS))}
scrape_configs:
  - job_name: smsproxy
    static_configs:
      - targets: [{json.dumps(target)}]
""",
        encoding="utf-8",
    )
    child = Child.start(
        "prometheus",
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log=tmp / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool | None:
                try:
                    async with http.get(f"{url}/-/ready") as resp:
                        return True if resp.status == 200 else None
                except aiohttp.ClientError:
                    return None

            deadline = time.monotonic() + 30
            await child.wait_ready_async(ready, 30, interval_s=0.1)
            # Until the first scrape of the daemon succeeded.
            while not await instant(http, url, 'up{job="smsproxy"} == 1'):
                assert time.monotonic() < deadline, "prometheus cannot scrape the daemon"
                await asyncio.sleep(0.2)
        yield url
    finally:
        await child.stop_async(grace_s=10.0)


# ------------------------------------------------------------------ Prometheus API


async def _api(http: aiohttp.ClientSession, url: str, params: dict[str, str]) -> dict[str, Any]:
    async with http.get(url, params=params) as resp:
        body: dict[str, Any] = await resp.json()
    return body


async def instant(http: aiohttp.ClientSession, url: str, expr: str) -> list[dict[str, Any]]:
    body = await _api(http, f"{url}/api/v1/query", {"query": expr})
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def query_instant(
    http: aiohttp.ClientSession, url: str, expr: str, at: float
) -> tuple[list[Series], str | None]:
    body = await _api(http, f"{url}/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
    if body.get("status") != "success":
        return [], str(body.get("error"))
    return [Series(r["metric"], [float(r["value"][1])]) for r in body["data"]["result"]], None


async def query_range(
    http: aiohttp.ClientSession, url: str, expr: str, start: float, end: float
) -> tuple[list[Series], str | None]:
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"}
    body = await _api(http, f"{url}/api/v1/query_range", params)
    if body.get("status") != "success":
        return [], str(body.get("error"))
    return [
        Series(r["metric"], [float(v) for _, v in r["values"]]) for r in body["data"]["result"]
    ], None


# ------------------------------------------------------------------------- traffic


def phones(n: int, first: int, prefix: str = "138") -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(first, first + n)]


class Legacy:
    """A legacy esms100 client of the daemon; counts what it was answered."""

    def __init__(self, http: aiohttp.ClientSession, url: str, answers: Counter[str]) -> None:
        self.http = http
        self.url = url
        self.answers = answers

    async def call(self, endpoint: str, **params: str) -> str:
        query = {"cpid": CPID, "cppwd": CPPWD, "encode": "utf8", **params}
        async with self.http.get(f"{self.url}/{endpoint}/", params=query) as resp:
            assert resp.status == 200, (endpoint, resp.status)
            body = await resp.read()
        first = body.split(b"\n", 1)[0].strip().decode("gbk", errors="replace")
        code = first if first.startswith("-") else "0"
        self.answers[f"{endpoint} {code}"] += 1
        return code

    async def send(self, to: list[str], text: str, **params: str) -> str:
        return await self.call("mt", phone=",".join(to), msgtext=text, **params)


async def drive_traffic(legacy: Legacy, sims: dict[str, SimulatorServer], push: str) -> None:
    """A few seconds of what a day brings: sends, failover, refusals, polls, replies.

    A hostile network's share too: :func:`drive_hostile_traffic` midway, and
    :func:`fill_the_connection_cap` last.
    """
    repliers = ["smscn", "c123", "esms100", "chuanglan"]
    first_to, first_text = phones(5, 0), "【ACME】验证码 0000"
    # First, so the daemon's 5-second gauge of unresolved recipients has
    # counted it by the end: chuanglan (cheapest) answers garbage once — no
    # clear answer, not resent elsewhere (-17) — and its resend is unresolved
    # (chuanglan may have it): answered -17, not sent.
    chuanglan = sims["chuanglan"].simulator
    chuanglan.faults.garbage = True
    await legacy.send(phones(1, 3000, "136"), "【ACME】garbled")
    chuanglan.faults.garbage = False
    await legacy.send(phones(1, 3000, "136"), "【ACME】garbled")
    for i in range(ROUNDS):
        to = phones(5, 5 * i)
        # 1 segment to 5 numbers; chuanglan (cheapest) runs dry in round 6 and the
        # rest fails over to smscn.
        await legacy.send(to, f"【ACME】验证码 {i:04d}")
        if i % 3 == 0:  # 2 segments to 2 numbers
            await legacy.send(phones(2, 1000 + 2 * i, "139"), "【ACME】" + "长" * 80 + f"{i}")
        await legacy.send(to[:1], "【ACME】x", cppwd="0" * 32)  # -1: wrong password
        if i % 4 == 0:
            await legacy.call("qreport")
            await legacy.call("mo")
            await legacy.call("qamount")
            sims[repliers[(i // 4) % len(repliers)]].simulator.inject_reply(to[0], "收到 TD")
        await asyncio.sleep(0.25)
    # Before smscn's last garbled answer below: the flood's sends reset its failures in a row.
    await drive_hostile_traffic(legacy, sims, push)
    # A client resending what it already sent: not sent again.
    await legacy.send(first_to, first_text)
    # The client's own mistakes.
    await legacy.call("mt", msgtext="【ACME】no phone")  # -5
    await legacy.send(["12345"], "【ACME】bad number")  # -16
    await legacy.call("ent", oldpwd="not-the-password", newpwd="x")  # -1: a wrong oldpwd
    # A report of a message sent on the vendor account outside smsproxy: unmatched.
    esms100 = sims["esms100"].simulator
    esms100.accept(str(esms100.next_id()), "13700000001", "【OTHER】outside smsproxy")
    # A burst beyond smscn's rate limit: some chunks wait for it.
    await asyncio.gather(
        *(legacy.send(phones(3, 2000 + 3 * j, "137"), f"【ACME】通知 {j}") for j in range(8))
    )
    # smscn refuses the content of one send: it fails over to the next vendor.
    # One is enough: every failover series starts at zero, so rate() sees it.
    sims["smscn"].simulator.faults.forced_outcome = Outcome.CONTENT_REJECTED
    await legacy.send(phones(1, 3100, "136"), "【ACME】内容 1")
    sims["smscn"].simulator.faults.forced_outcome = None
    # smscn answers garbage once at the end: its failures in a row stay at 1.
    sims["smscn"].simulator.faults.garbage = True
    await legacy.send(phones(1, 3001, "136"), "【ACME】garbled")
    sims["smscn"].simulator.faults.garbage = False
    sims["c123"].simulator.inject_reply(phones(1, 5)[0], "好的")
    await fill_the_connection_cap(legacy.url)


# --------------------------------------------------------------- hostile traffic


async def raw_exchange(url: str, data: bytes, pause_s: float = 0.0) -> bytes:
    """Write raw bytes to an HTTP port and read what it answers until it closes."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5 + pause_s)
    finally:
        writer.close()


async def refused_requests(url: str) -> None:
    """What the legacy port's limits answer: 431, 400, and 408 for a stalled head or body."""
    answers = await asyncio.gather(
        raw_exchange(url, b"GET /mt/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000),
        raw_exchange(url, b"\x16\x03\x01 not HTTP at all\r\n\r\n"),  # TLS on a plain port
        raw_exchange(url, b"GET /mt/ HTTP/1.1\r\nHost: x\r\n", HTTP_TIMEOUT_S),
        raw_exchange(
            url,
            b"POST /mt/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ncpid=",
            HTTP_TIMEOUT_S,
        ),
    )
    statuses = [a.split(b" ", 2)[1] if a.startswith(b"HTTP/1.1 ") else a[:40] for a in answers]
    assert statuses == [b"431", b"400", b"408", b"408"], statuses


async def forged_pushes(http: aiohttp.ClientSession, push: str) -> None:
    """Pushes a forger would try: another sms10000 account's report, a guessed token."""
    forged = sms10000_wire.encode_push(
        sms10000_wire.STATUS_PUSH,
        [sms10000_wire.PushItem("13800000000", "1", "999", "forger", status="-1")],
    )
    headers = {"Content-Type": "text/xml; charset=UTF-8"}
    async with http.post(f"{push}/push/sms10000", data=forged, headers=headers) as resp:
        assert resp.status == 403, resp.status  # account: not our eprId/userId
    async with http.get(f"{push}/push/smscn/guessed-token-0123456789") as resp:
        assert resp.status == 403, resp.status  # token: smscn has none configured


async def guess_passwords(url: str, answers: Counter[str]) -> None:
    """Wrong passwords from another address until it is locked out (-9)."""
    connector = aiohttp.TCPConnector(local_addr=(GUESSER, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        guesser = Legacy(http, url, answers)
        for i in range(MAX_LOGIN_FAILURES_PER_ADDRESS + 2):
            await guesser.call("qamount", cppwd=f"{i:032X}")


async def flood(legacy: Legacy, sims: dict[str, SimulatorServer]) -> None:
    """One client's sends beyond its limit in flight, with slow vendors: some get -15."""
    for server in sims.values():
        server.simulator.faults.latency_s = FLOOD_LATENCY_S
    try:
        await asyncio.gather(
            *(
                legacy.send(
                    phones(1, 4000 + j, "135"), f"【BATCH】{j}", cpid=BATCH, cppwd=BATCH_CPPWD
                )
                for j in range(FLOOD)
            )
        )
    finally:
        for server in sims.values():
            server.simulator.faults.latency_s = 0.0


async def drive_hostile_traffic(
    legacy: Legacy, sims: dict[str, SimulatorServer], push: str
) -> None:
    """A second or so of what a hostile network and an overload bring, all at once."""
    await asyncio.gather(
        refused_requests(legacy.url),
        forged_pushes(legacy.http, push),
        guess_passwords(legacy.url, legacy.answers),
        flood(legacy, sims),
    )


async def fill_the_connection_cap(url: str) -> None:
    """Hold connections open until the port refuses one (503), then let them all go.

    Last of the traffic: the port is full for a moment, and a send then would be refused.
    """
    host, _, port = url.removeprefix("http://").rpartition(":")
    held: list[asyncio.StreamWriter] = []
    try:
        for _ in range(MAX_CONNECTIONS + 1):
            reader, writer = await asyncio.open_connection(host, int(port))
            held.append(writer)
        # The sends' idle pooled connections count too: the last one is refused.
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:40]
    finally:
        for writer in held:
            writer.close()


async def another_daemons_balance_check(redis_url: str) -> None:
    """What another daemon on the same Redis writes when it checks c123's balance:
    the daemon takes it (smsproxy_vendor_states_taken_total)."""
    store = await RedisStore.open(redis_url, prefix=PREFIX)
    try:
        assert store.vendor_states is not None
        await store.vendor_states.share("c123", OTHER_DAEMON, None, None, balance=1_000_000)
    finally:
        await store.close()


# ------------------------------------------------------------------------ scenario


async def observe(tmp: Path, prometheus: str) -> Observed:
    """Run the scenario within :data:`SCENARIO_TIMEOUT_S` and collect every panel's data."""
    seen = Observed(logs={"daemon": tmp / "daemon-1.log", "prometheus": tmp / "prometheus.log"})
    async with asyncio.timeout(SCENARIO_TIMEOUT_S), AsyncExitStack() as stack:
        sims: dict[str, SimulatorServer] = {}
        for vk in VENDOR_KINDS:
            sims[vk.kind] = await stack.enter_async_context(SimulatorServer(vk.simulator()))
        sims["chuanglan"].simulator.faults.balance = CHUANGLAN_SEGMENTS
        (tmp / "redis").mkdir()
        redis = start_redis_server(tmp / "redis")
        stack.callback(redis.stop)
        config = write_config(tmp, sims, redis.url)
        daemon = DaemonProcess(config, tmp)
        stack.push_async_callback(daemon.stop)
        await daemon.start()
        listening = daemon.listening
        for kind, server in sims.items():
            server.simulator.faults.push_url = f"{listening['push']}/push/{kind}"
            server.simulator.faults.report_delay_s = 0.2
        admin = listening["admin"]
        seen.instance = admin.removeprefix("http://")
        prom = await stack.enter_async_context(prometheus_process(prometheus, tmp, seen.instance))
        start = time.time() - 1
        http = await stack.enter_async_context(aiohttp.ClientSession())
        await drive_traffic(
            Legacy(http, listening["legacy"], seen.answers), sims, listening["push"]
        )
        await another_daemons_balance_check(redis.url)
        # Reports and replies of the last sends stay queued for the client a while.
        await asyncio.sleep(3)
        async with http.get(f"{admin}/metrics") as resp:
            seen.exposition = await resp.text()
        await asyncio.sleep(1.5)  # one more scrape and rule evaluation after it
        end = time.time()
        seen.range_s = int(end - start) + 1
        for q in queries():
            expr = promql(q.expr, seen.range_s)
            if q.instant:
                asked = query_instant(http, prom, expr, end)
            else:
                asked = query_range(http, prom, expr, start, end)
            seen.results[q.id], error = await asked
            if error is not None:
                seen.errors[q.id] = error
        body = await _api(
            http, f"{prom}/api/v1/label/instance/values", {"match[]": "smsproxy_build_info"}
        )
        seen.instances = list(body["data"])
        body = await _api(http, f"{prom}/api/v1/rules", {})
        seen.rules = [rule for group in body["data"]["groups"] for rule in group["rules"]]
        seen.alerts, _ = await query_range(http, prom, "ALERTS", start, end)
    return seen
