"""One fuzz run against a target, and its verdict.

Before the cases, a good send (it must be answered ``0``); during them the
daemon's RSS is sampled; after them another good send must still be
answered ``0``, the RSS must have grown by less than :data:`MAX_GROWTH_BYTES`
at its peak, and the daemon's log must hold no traceback, exception or
error.  No delivery report or reply may be handed out twice (each send has
its own number, each reply its own text).  Every case's faults come from
:mod:`tests.fuzz.oracle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fuzz.answers import BadAnswer, read_answer
from tests.fuzz.cases import make_cases
from tests.fuzz.runner import Played, Runner, Tally
from tests.fuzz.target import Target

MAX_GROWTH_BYTES = 50 * 1024 * 1024
RSS_EVERY_S = 0.25
MB = 1024 * 1024


@dataclass
class Report:
    seed: int
    first: int
    count: int
    tally: Tally
    seconds: float = 0.0
    rss_before: int | None = None
    rss_peak: int | None = None
    rss_after: int | None = None
    before_send: str = ""
    after_send: str = ""
    log_faults: list[str] = field(default_factory=list)

    @property
    def growth(self) -> int | None:
        if self.rss_before is None or self.rss_peak is None:
            return None
        return self.rss_peak - self.rss_before

    def faults(self) -> list[str]:
        """Everything wrong with the run; empty when it passed."""
        faults = [played.describe() for played in self.tally.failures]
        if self.tally.failed > len(self.tally.failures):
            faults.append(f"… and {self.tally.failed - len(self.tally.failures)} more failed cases")
        if self.before_send != "0":
            faults.append(f"a good send before the cases was answered {self.before_send!r}")
        if self.after_send != "0":
            faults.append(f"a good send after the cases was answered {self.after_send!r}")
        growth = self.growth
        if growth is not None and growth >= MAX_GROWTH_BYTES:
            faults.append(f"RSS grew by {growth / MB:.1f} MB (at most {MAX_GROWTH_BYTES / MB:.0f})")
        faults += [f"daemon log: {line}" for line in self.log_faults[:20]]
        twice = [(item, n) for item, n in self.tally.handed.items() if n > 1]
        faults += [f"handed out {n} times: {item}" for item, n in twice[:20]]
        return faults

    def summary(self) -> str:
        tally = self.tally
        rate = tally.cases / self.seconds if self.seconds else 0.0
        lines = [
            f"seed {self.seed}, cases {self.first}..{self.first + self.count - 1}:"
            f" {tally.cases} played in {self.seconds:.1f} s ({rate:.0f}/s),"
            f" {tally.failed} failed; slowest case {tally.slowest_s:.2f} s",
        ]
        if self.rss_before is not None and self.rss_peak is not None:
            lines.append(
                f"daemon RSS {self.rss_before / MB:.1f} MB before, {self.rss_peak / MB:.1f} MB"
                f" at the peak, {(self.rss_after or 0) / MB:.1f} MB after"
                f" (growth {(self.growth or 0) / MB:+.1f} MB)"
            )
        lines.append(f"good sends: {self.before_send!r} before, {self.after_send!r} after")
        reports = sum(1 for item in tally.handed if item.startswith("/qreport/"))
        replies = len(tally.handed) - reports
        lines.append(f"handed out: {reports} delivery reports, {replies} replies")
        lines.append("HTTP statuses: " + _counts(tally.statuses))
        lines.append("200 answers: " + _counts(tally.codes))
        lines.append("cases: " + _counts(tally.labels))
        return "\n".join(lines)


def _counts(counter: dict[str, int] | dict[int, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: str(kv[0])))


async def good_send(target: Target, text: str) -> str:
    """A send as a legacy client makes it; its answer's body, or what went wrong."""
    account = target.account
    query = f"cpid={account.cpid}&cppwd={account.cppwd}&phone=13800138000&msgtext={text}"
    request = f"GET /mt/?{query} HTTP/1.1\r\nHost: sms\r\nConnection: close\r\n\r\n"
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(target.host, target.port)
            writer.write(request.encode("ascii"))
            answer = await read_answer(reader, head_only=False)
            writer.close()
    except (OSError, TimeoutError, BadAnswer) as exc:
        return f"no answer: {exc!r}"
    if answer is None:
        return "no answer: the connection closed"
    return answer.body.decode("gbk", "replace") if answer.status == 200 else str(answer)


async def fuzz(
    target: Target,
    *,
    seed: int,
    count: int,
    first: int = 0,
    connections: int = 32,
    on_played: Callable[[Played], None] | None = None,
) -> Report:
    limits = target.limits
    # An answer's bound: the slowest time-out, and room for a send's deadline.
    within_s = max(limits.head_timeout_s, limits.body_timeout_s, limits.keepalive_s) + 5.0
    runner = Runner(
        target.host,
        target.port,
        connections=connections,
        within_s=within_s,
        timeout_s=min(limits.head_timeout_s, limits.body_timeout_s),
        on_played=on_played,
    )
    report = Report(seed, first, count, runner.tally)
    report.before_send = await good_send(target, f"fuzz-before-{seed}-{first}")
    report.rss_before = report.rss_peak = target.rss_bytes()
    sampler = asyncio.create_task(_sample_rss(target, report))
    started = time.monotonic()
    try:
        await runner.run(make_cases(seed, count, target.account, limits, first))
    finally:
        report.seconds = time.monotonic() - started
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    report.after_send = await good_send(target, f"fuzz-after-{seed}-{first}")
    report.rss_after = target.rss_bytes()
    _note_rss(report, report.rss_after)
    report.log_faults = target.log_faults()
    return report


async def _sample_rss(target: Target, report: Report) -> None:
    while True:
        await asyncio.sleep(RSS_EVERY_S)
        _note_rss(report, target.rss_bytes())


def _note_rss(report: Report, rss: int | None) -> None:
    if rss is not None and (report.rss_peak is None or rss > report.rss_peak):
        report.rss_peak = rss
