"""The table's rows: a figure of smsproxy beside its baselines, with its target and verdict.

The baseline a ratio is taken against is the *lean* pass-through
(:mod:`bench.lean`, the daemon's own HTTP server and client doing nothing
else); the aiohttp pass-through (:mod:`bench.passthrough`) is a second
reference column, *direct* the load sent straight to the stub, and *peer*
another gateway (Kannel) when one runs beside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Row:
    """One figure of one workload."""

    label: str
    proxy: float | None
    baseline: float | None = None  # the lean pass-through
    aiohttp: float | None = None  # the aiohttp pass-through
    direct: float | None = None
    peer: float | None = None
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
    """One load run's figures, and what it cost the process measured."""

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

    @property
    def ok_per_s(self) -> float:
        return float(self.load["ok_per_s"])


@dataclass
class Runs:
    """The same load against smsproxy and its baselines."""

    proxy: Measured
    lean: Measured
    aiohttp: Measured | None = None
    direct: Measured | None = None

    def raw(self) -> dict[str, Any]:
        out = {"smsproxy": self.proxy.load, "baseline": self.lean.load}
        if self.aiohttp is not None:
            out["aiohttp"] = self.aiohttp.load
        if self.direct is not None:
            out["direct"] = self.direct.load
        return out

    def row(self, label: str, figure: str, **kw: Any) -> Row:
        """A row of ``figure`` (a load result's key) from every run."""

        def of(m: Measured | None) -> float | None:
            return None if m is None else float(m.load[figure])

        return Row(label, of(self.proxy), of(self.lean), of(self.aiohttp), of(self.direct), **kw)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def throughput_rows(
    runs: Runs,
    generator: str,
    quick: bool,
    min_ratio: float,
    floor: float | None = None,
) -> list[Row]:
    sends, lean = runs.proxy.ok_per_s, runs.lean.ok_per_s
    r = ratio(sends, lean) or 0.0
    target = f">= {min_ratio}x lean" + (f", {floor:,.0f}/s" if floor else "")
    ok = r >= min_ratio and (floor is None or sends >= floor)
    return [
        runs.row(f"sends/s ({generator})", "ok_per_s", target=target, passed=None if quick else ok),
        *(
            Row(
                f"  latency {p} ms ({generator})",
                runs.proxy.latency(p),
                runs.lean.latency(p),
                None if runs.aiohttp is None else runs.aiohttp.latency(p),
                None if runs.direct is None else runs.direct.latency(p),
                ratio=False,
                decimals=2,
            )
            for p in ("p50", "p99")
        ),
    ]


def latency_rows(runs: Runs, added: bool = True) -> list[Row]:
    def lat(m: Measured | None, p: str) -> float | None:
        return None if m is None else m.latency(p)

    rows = [
        Row(
            f"latency {p} ms",
            lat(runs.proxy, p),
            lat(runs.lean, p),
            lat(runs.aiohttp, p),
            lat(runs.direct, p),
            ratio=False,
            decimals=2,
        )
        for p in ("p50", "p99")
    ]
    if added and runs.direct is not None:
        base = runs.direct.latency("p50")
        rows.append(
            Row(
                "added latency p50 ms",
                minus(lat(runs.proxy, "p50"), base),
                minus(lat(runs.lean, "p50"), base),
                minus(lat(runs.aiohttp, "p50"), base),
                ratio=False,
                decimals=2,
            )
        )
    return rows


def cost_rows(runs: Runs, cpu_max_ratio: float | None = None, quick: bool = False) -> list[Row]:
    """Peak RSS and CPU a send; with ``cpu_max_ratio``, CPU a send against the lean one's."""
    aio = runs.aiohttp
    cpu, lean_cpu = runs.proxy.cpu_ms_per_1000(), runs.lean.cpu_ms_per_1000()
    cpu_ratio = ratio(cpu, lean_cpu)
    cpu_row = Row(
        "CPU ms per 1000 sends",
        cpu,
        lean_cpu,
        None if aio is None else aio.cpu_ms_per_1000(),
    )
    if cpu_max_ratio is not None:
        cpu_row.target = f"<= {cpu_max_ratio:g}x lean"
        cpu_row.passed = None if quick or cpu_ratio is None else cpu_ratio <= cpu_max_ratio
    return [
        Row(
            "peak RSS MB",
            runs.proxy.peak_rss_mb,
            runs.lean.peak_rss_mb,
            None if aio is None else aio.peak_rss_mb,
            decimals=1,
        ),
        cpu_row,
    ]


def failed_row(runs: Runs, label: str = "sends failed", failed: int | None = None) -> Row:
    """``failed``: smsproxy's failures when they are summed over more runs than ``runs``."""
    if failed is None:
        failed = int(runs.proxy.load["failed"])
    return Row(
        label,
        failed,
        runs.lean.load["failed"],
        None if runs.aiohttp is None else runs.aiohttp.load["failed"],
        ratio=False,
        target="= 0",
        passed=failed == 0,
    )


def in_turn(rounds: int, load: Callable[[str], Measured]) -> list[tuple[Measured, Measured]]:
    """``rounds`` of the lean pass-through and smsproxy, each first in turn: (lean, smsproxy)."""
    taken: list[tuple[Measured, Measured]] = []
    for i in range(rounds):
        order = ("lean", "smsproxy") if i % 2 == 0 else ("smsproxy", "lean")
        measured = {target: load(target) for target in order}
        taken.append((measured["lean"], measured["smsproxy"]))
    return taken


def median(rounds: Sequence[T], figure: Callable[[T], float]) -> T:
    """The round at the median of ``figure`` (the upper of two middle ones)."""
    return sorted(rounds, key=figure)[len(rounds) // 2]
