"""The load generator: esms100 ``/mt/`` sends over raw asyncio connections.

An efficient generator matters on a 2-core machine, where it shares the CPU
with the daemon and the vendor: a connection here is an
:class:`asyncio.Protocol` that writes prebuilt request bytes and frames the
answer itself, with no task, no framework and no parsing beyond the status
and ``Content-Length``.  Standard library only.

Two modes, both bounded by a number of requests *and* a time cap:

``closed``  ``--concurrency`` connections, each sending its next request as
            soon as the previous answer arrives (saturation, or N in flight).
``rate``    an open loop at ``--rate`` requests per second; latency counts from
            the moment a request was *due*, so a stall in the server is not
            hidden by the generator waiting for it (no coordinated omission).

Every request carries a different phone number (``--first-phone`` + its
index), so a vendor's books show any recipient that was sent twice.
``--recipients N`` puts N numbers in each send, as a POST form.
``--retry-every N`` makes one request in N a client's retry: the same
number and text as the send issued ``--concurrency`` sends before it, which
may be answered already or still in flight (a client that timed out
retries either way); their answers are counted apart (``retries``,
``retries_ok``).  ``--api kannel`` sends the same texts to Kannel's
``/cgi-bin/sendsms`` instead of esms100's ``/mt/`` (``--cpid``/``--cppwd``
are then its sendsms user and password), and counts its ``0: Accepted``.

Prints one JSON object: counts, answer codes, rates and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter, deque
from typing import Any

from bench.http1 import MessageReader, ProtocolError, status_of
from bench.load_spec import LoadSpec, accepted, request_maker


class Conn(asyncio.Protocol):
    __slots__ = ("gen", "reader", "retry", "sent_at", "transport")

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.reader = MessageReader()
        self.transport: asyncio.Transport | None = None
        self.sent_at: float | None = None  # when the request in flight was due
        self.retry = False  # the request in flight repeats an earlier send

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.reader.feed(data)
        except (ProtocolError, ValueError):
            self.gen.failed_conn(self)
            return
        for head, body in messages:
            self.gen.answered(self, head, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.gen.failed_conn(self)

    def send(self, request: bytes, due: float, retry: bool) -> None:
        self.sent_at = due
        self.retry = retry
        assert self.transport is not None
        self.transport.write(request)


class Generator:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.make = request_maker(spec)
        self.loop = asyncio.get_running_loop()
        self.scheduled = 0  # requests due so far (rate mode: some may wait in the backlog)
        self.issued = 0  # requests written
        self.fresh = 0  # sends of their own issued so far (not retries)
        self.retries = 0
        self.retries_ok = 0
        self.ok = 0
        self.errors = 0  # connections lost or refused with a request in flight, time-outs
        self.codes: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.idle: list[Conn] = []
        self.conns: list[Conn] = []
        self.opening = 0
        self.growing: set[asyncio.Future[None]] = set()
        self.backlog: deque[float] = deque()  # rate mode: due times waiting for a connection
        self.ticking = False
        self.start = 0.0
        self.last = 0.0
        self.stop_at = 0.0
        self.done: asyncio.Future[None] = self.loop.create_future()

    # --- connections --------------------------------------------------------------

    async def connect(self, count: int) -> None:
        gate = asyncio.Semaphore(self.spec.connect_parallel)

        async def one() -> None:
            async with gate:
                try:
                    _, conn = await self.loop.create_connection(
                        lambda: Conn(self), self.spec.host, self.spec.port
                    )
                except OSError:
                    self.codes["connect_error"] += 1
                    return
                self.conns.append(conn)
                self.idle.append(conn)

        await asyncio.gather(*(one() for _ in range(count)))

    def failed_conn(self, conn: Conn) -> None:
        if conn.sent_at is not None:
            conn.sent_at = None
            self.errors += 1
            self.codes["connection_lost"] += 1
            self._finished_one()
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.transport is not None:
            conn.transport.close()

    # --- requests -------------------------------------------------------------------

    def _more(self) -> bool:
        return self.scheduled < self.spec.requests and time.monotonic() < self.stop_at

    def _issue(self, conn: Conn, due: float) -> None:
        lag = self.spec.concurrency
        retry = self.spec.is_retry(self.issued) and self.fresh > lag
        if retry:
            self.retries += 1
            request = self.make(self.fresh - lag)
        else:
            request = self.make(self.fresh)
            self.fresh += 1
        self.issued += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        conn.send(request, due, retry)

    def answered(self, conn: Conn, head: bytes, body: bytes) -> None:
        now = time.monotonic()
        due = conn.sent_at
        conn.sent_at = None
        if due is None:
            return  # an answer nobody asked for
        self.latencies.append(now - due)
        self.last = now
        status = status_of(head)
        if accepted(self.spec, status, body):
            self.ok += 1
            self.retries_ok += conn.retry
        elif status in (200, 202):
            self.codes[body[:20].decode("latin-1")] += 1
        else:
            self.codes[f"http_{status}"] += 1
        self.in_flight -= 1
        if self.spec.mode == "closed":
            if self._more():
                self.scheduled += 1
                self._issue(conn, now)
                return
        elif self.backlog:
            self._issue(conn, self.backlog.popleft())
            return
        self.idle.append(conn)
        self._check_done()

    def _finished_one(self) -> None:
        self.in_flight -= 1
        self._check_done()

    def _check_done(self) -> None:
        if self.in_flight or self.backlog or self.ticking or self.done.done():
            return
        if self.spec.mode == "closed" and self._more():
            return
        self.done.set_result(None)

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        first = spec.concurrency if spec.mode == "closed" else min(spec.concurrency, 64)
        await self.connect(first)
        if not self.conns:
            return self.result(0.0)
        self.start = self.last = time.monotonic()
        self.stop_at = self.start + spec.duration_s
        ticker: asyncio.Future[None] | None = None
        if spec.mode == "closed":
            while self.idle and self._more():
                self.scheduled += 1
                self._issue(self.idle.pop(), time.monotonic())
        else:
            self.ticking = True
            ticker = asyncio.ensure_future(self._tick())
        self._check_done()
        try:
            await asyncio.wait_for(asyncio.shield(self.done), spec.duration_s + spec.drain_s)
        except TimeoutError:
            lost = self.in_flight + len(self.backlog)
            self.codes["timed_out"] += lost
            self.errors += lost
        if ticker is not None:
            ticker.cancel()
        elapsed = max(self.last - self.start, 1e-9)
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()
        return self.result(elapsed)

    async def _tick(self) -> None:
        """Rate mode: hand every due request to an idle connection, or queue it."""
        interval = 1.0 / self.spec.rate
        try:
            while self._more():
                due = self.start + self.scheduled * interval
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                self.scheduled += 1
                if self.idle:
                    self._issue(self.idle.pop(), due)
                    continue
                self.backlog.append(due)
                if len(self.conns) + self.opening < self.spec.concurrency:
                    task = asyncio.ensure_future(self._grow())
                    self.growing.add(task)
                    task.add_done_callback(self.growing.discard)
        finally:
            self.ticking = False
        self._check_done()

    async def _grow(self) -> None:
        self.opening += 1
        try:
            await self.connect(1)
        finally:
            self.opening -= 1
        if self.idle and self.backlog:
            self._issue(self.idle.pop(), self.backlog.popleft())

    def result(self, elapsed: float) -> dict[str, Any]:
        lat = sorted(self.latencies)
        completed = len(lat)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 3)

        return {
            "mode": self.spec.mode,
            "concurrency": self.spec.concurrency,
            "recipients_per_send": self.spec.recipients,
            "issued": self.scheduled,
            "completed": completed,
            "ok": self.ok,
            "failed": self.scheduled - self.ok,
            "errors": self.errors,
            "codes": dict(self.codes),
            "elapsed_s": round(elapsed, 3),
            "sends_per_s": round(completed / elapsed, 1) if elapsed else 0.0,
            "ok_per_s": round(self.ok / elapsed, 1) if elapsed else 0.0,
            "recipients_per_s": round(self.ok * self.spec.recipients / elapsed, 1)
            if elapsed
            else 0.0,
            "retries": self.retries,
            "retries_ok": self.retries_ok,
            "distinct_ok": self.ok - self.retries_ok,
            "max_in_flight": self.max_in_flight,
            "connections": len(self.conns),
            "latency_ms": {
                "p50": pct(50),
                "p90": pct(90),
                "p99": pct(99),
                "p999": pct(99.9),
                "max": round(lat[-1] * 1000, 3) if lat else None,
            },
        }


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(spec: LoadSpec) -> dict[str, Any]:
    return await Generator(spec).run()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    p.add_argument("--mode", choices=["closed", "rate"], default="closed")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--duration-s", type=float, default=10.0)
    p.add_argument("--drain-s", type=float, default=30.0)
    p.add_argument("--recipients", type=int, default=1)
    p.add_argument("--first-phone", type=int, default=13_000_000_000)
    p.add_argument("--cpid", default="bench")
    p.add_argument("--cppwd", default="")
    p.add_argument("--same-text", action="store_true", help="one text for every send")
    p.add_argument("--retry-every", type=int, default=0, help="one request in N is a retry")
    p.add_argument("--api", choices=["esms100", "kannel"], default="esms100")
    args = p.parse_args(argv)
    host, _, port = args.url.removeprefix("http://").rstrip("/").rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        p.error("the bench drives loopback addresses only")
    raise_fd_limit()
    spec = LoadSpec(
        host="127.0.0.1",
        port=int(port),
        mode=args.mode,
        concurrency=args.concurrency,
        rate=args.rate,
        requests=args.requests,
        duration_s=args.duration_s,
        drain_s=args.drain_s,
        recipients=args.recipients,
        first_phone=args.first_phone,
        cpid=args.cpid,
        cppwd=args.cppwd,
        same_text=args.same_text,
        retry_every=args.retry_every,
        api=args.api,
    )
    print(json.dumps(asyncio.run(run(spec))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
