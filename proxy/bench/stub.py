"""A fast esms100 vendor for the benchmark, so the vendor is never the bottleneck.

It answers ``/mt/`` the way esms100 does (``0``, or ``-10`` once its balance
in segments is spent) and ``/qamount/`` with that balance, over a raw
asyncio protocol: no framework, no per-request task, no record of messages
unless asked.  It does not check credentials or numbers; the faithful
simulator (:mod:`adapters.esms100.simulator`) is the one that does.

``--track`` keeps a count per (phone, text) of what it accepted, so the
failover workload can prove from the vendors' own books that nobody got the
same text twice.  ``--latency-s`` delays every answer (the slow vendor).

``--reports`` makes a delivery report (``DELIVRD``, status 1) of every
recipient it accepts and hands them out on ``/qreport/`` as esms100 does:
a count line, then ``send time||number||1`` lines, the time in whole
seconds in China time (esms100's zone, whatever the host's), each report
once, oldest first, at most ``--report-batch`` a poll.  ``--hold`` starts
with them held back (a poll gets ``0``) until ``GET /_stub/release``.

Control, on the same port: ``GET /_stub/stats`` (counters) and
``GET /_stub/phones`` (with ``--track``: every accepted phone, and the
phones accepted more than once with their count), ``GET /_stub/hold`` and
``GET /_stub/release`` (with ``--reports``).

Run: ``python -m proxy.bench.stub [--port 0] [--balance N] [--latency-s S] [--track]
[--reports [--report-batch N] [--hold]]``; it prints one JSON line
``{"event": "listening", "port": N}`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import Counter, deque
from datetime import datetime
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from core.send import segments
from proxy.bench.http1 import MessageReader, ProtocolError, response

OK = response(b"0")
NO_BALANCE = response(b"-10")
NOT_FOUND = response(b"not found", 404)
UNLIMITED = 100_000_000
VENDOR_ZONE = "Asia/Shanghai"  # esms100's times carry no zone: they are China time


class StubVendor:
    """The vendor's books: balance, counters and (optionally) who got what."""

    def __init__(
        self,
        balance: int | None = None,
        track: bool = False,
        reports: bool = False,
        report_batch: int = 1000,
        hold: bool = False,
    ) -> None:
        self.balance = balance
        self.track = track
        self.reports = reports
        self.report_batch = report_batch
        self.hold = hold
        self.zone = ZoneInfo(VENDOR_ZONE)
        # (second accepted, phone) of each report not handed out yet, oldest first.
        self.pending: deque[tuple[int, bytes]] = deque()
        self.reports_made = 0
        self.reports_handed = 0
        self.requests = 0
        self.sends = 0  # /mt/ requests
        self.accepted_sends = 0
        self.recipients = 0  # recipients accepted
        self.refused = 0  # /mt/ answered -10
        self.seen: Counter[tuple[str, str]] = Counter()

    def stats(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "sends": self.sends,
            "accepted_sends": self.accepted_sends,
            "recipients": self.recipients,
            "refused": self.refused,
            "balance": self.balance,
            "tracked": len(self.seen),
            "duplicates": sum(c - 1 for c in self.seen.values() if c > 1),
            "reports_made": self.reports_made,
            "reports_handed": self.reports_handed,
            "reports_waiting": len(self.pending),
            "reports_held": self.hold,
        }

    def phones(self) -> dict[str, object]:
        return {
            "phones": [phone for phone, _ in self.seen],
            "repeated": {f"{p}|{t}": c for (p, t), c in self.seen.items() if c > 1},
        }

    def handle(self, head: bytes, body: bytes) -> bytes:
        self.requests += 1
        line_end = head.find(b"\r\n")
        request_line = head[:line_end] if line_end >= 0 else head
        try:
            _, target, _ = request_line.split(b" ", 2)
        except ValueError:
            return NOT_FOUND
        path, _, query = target.partition(b"?")
        if path in (b"/mt/", b"/mt"):
            return self._mt(query + b"&" + body if body else query)
        if path in (b"/qamount/", b"/qamount"):
            left = UNLIMITED if self.balance is None else self.balance
            return response(str(left).encode("ascii"))
        if path in (b"/qreport/", b"/qreport"):
            return self._qreport()
        if path in (b"/mo/", b"/mo"):
            return OK
        if path in (b"/_stub/hold", b"/_stub/release"):
            self.hold = path == b"/_stub/hold"
            return response(json.dumps(self.stats()).encode(), content_type=b"application/json")
        if path == b"/_stub/stats":
            return response(json.dumps(self.stats()).encode(), content_type=b"application/json")
        if path == b"/_stub/phones":
            return response(json.dumps(self.phones()).encode(), content_type=b"application/json")
        return NOT_FOUND

    def _mt(self, form: bytes) -> bytes:
        self.sends += 1
        phone_raw = text_raw = b""
        for part in form.split(b"&"):
            name, _, value = part.partition(b"=")
            if name == b"phone":
                phone_raw = value
            elif name == b"msgtext":
                text_raw = value
        phone_raw = phone_raw.replace(b"%2C", b",").replace(b"%2c", b",")
        if b"%" in phone_raw or b"+" in phone_raw:
            phone_raw = unquote_to_bytes(phone_raw.replace(b"+", b" "))
        numbers = [p for p in phone_raw.split(b",") if p.strip()]
        if not numbers:
            return response(b"-16")
        text = _text(text_raw)
        if self.balance is not None:
            cost = segments(text) * len(numbers)
            if self.balance < cost:
                self.refused += 1
                return NO_BALANCE
            self.balance -= cost
        self.accepted_sends += 1
        self.recipients += len(numbers)
        if self.track:
            for number in numbers:
                self.seen[(number.strip().decode("ascii", "replace"), text)] += 1
        if self.reports:
            # Stamped when accepted, as the vendor's clock would: at or after
            # the daemon wrote its record of the send.
            now = int(time.time())
            self.pending.extend((now, number.strip()) for number in numbers)
            self.reports_made += len(numbers)
        return OK

    def _qreport(self) -> bytes:
        if self.hold or not self.pending:
            return OK  # "0": no reports
        n = min(self.report_batch, len(self.pending))
        lines = [str(n).encode()]
        stamp, at = -1, b""
        for _ in range(n):
            second, phone = self.pending.popleft()
            if second != stamp:  # a second's reports share their time line
                stamp = second
                when = datetime.fromtimestamp(second, self.zone)
                at = when.strftime("%Y-%m-%d %H:%M:%S").encode()
            lines.append(at + b"||" + phone + b"||1")
        self.reports_handed += n
        return response(b"\n".join(lines))


def _text(raw: bytes) -> str:
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


class StubProtocol(asyncio.Protocol):
    def __init__(self, vendor: StubVendor, latency_s: float) -> None:
        self.vendor = vendor
        self.latency_s = latency_s
        self.reader = MessageReader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.reader.feed(data)
        except (ProtocolError, ValueError):
            if self.transport is not None:
                self.transport.write(response(b"bad request", 400))
                self.transport.close()
            return
        for head, body in messages:
            answer = self.vendor.handle(head, body)
            if self.latency_s > 0:
                asyncio.get_running_loop().call_later(self.latency_s, self._write, answer)
            else:
                self._write(answer)

    def _write(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)


async def serve(host: str, port: int, vendor: StubVendor, latency_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: StubProtocol(vendor, latency_s), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": bound}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy.bench.stub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--balance", type=int, default=None, help="segments; default unlimited")
    parser.add_argument("--latency-s", type=float, default=0.0)
    parser.add_argument("--track", action="store_true", help="count sends per phone and text")
    parser.add_argument("--reports", action="store_true", help="hand out a report per recipient")
    parser.add_argument("--report-batch", type=int, default=1000, help="reports a poll at most")
    parser.add_argument("--hold", action="store_true", help="hold reports until /_stub/release")
    args = parser.parse_args(argv)
    vendor = StubVendor(args.balance, args.track, args.reports, args.report_batch, args.hold)
    asyncio.run(serve(args.host, args.port, vendor, args.latency_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
