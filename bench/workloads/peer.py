"""A peer gateway beside smsproxy (``--peer kannel``): accepted/s and delivered/s, counted apart.

Kannel answers a send when it is queued, smsproxy when a vendor has it; so
for each the load generator counts what was *accepted* (answered as
taken) and the stub vendor's books what was *delivered*, sampled every
50 ms: delivered/s is what reached the stub between its first and its last
arrival.  Same stub, same generator (32 connections, closed loop, every
send one number and its own verification code), smsproxy on the
operator's config (quota on), Kannel with its queue in memory and, in a
second run, in its spool store.

smsproxy and Kannel (in memory) take turns for several rounds, the order
rotating, and the delivered ratio is the round's at its median, the spread
printed beside: on the development machine single runs of Kannel read
3,529 and 4,263 delivered/s an hour apart, more than the target leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench import kannel
from bench.components import Proc
from bench.workloads.books import stub_stats
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Workload, median, ratio

PEERS = ("kannel",)
SAMPLE_S = 0.05
ROUNDS = 3  # of smsproxy and Kannel (in memory), in turn


def title(name: str) -> str:
    return f"peer: single-recipient sends beside {name.capitalize()} (accepted and delivered)"


def runner(name: str) -> Callable[[Bench, Workload], None]:
    if name != "kannel":
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    return run_kannel


@dataclass
class Delivered:
    """What reached the stub during a run."""

    base: int = 0  # the stub's count before
    count: int = 0
    first: float | None = None
    last: float | None = None

    @property
    def per_s(self) -> float | None:
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return self.count / (self.last - self.first)


@contextmanager
def counting(stub: Proc) -> Iterator[Delivered]:
    """Samples the stub's accepted sends while the block runs, and after it until they stop."""
    seen = Delivered(int(stub_stats(stub)["accepted_sends"]))
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            n = int(stub_stats(stub)["accepted_sends"]) - seen.base
            now = time.monotonic()
            if n > seen.count:
                if seen.first is None:
                    seen.first = now - SAMPLE_S  # the first arrival was since the last sample
                seen.count, seen.last = n, now
            stop.wait(SAMPLE_S)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def settle(stub: Proc, seen: Delivered, expected: int, limit_s: float) -> None:
    """Wait until ``expected`` arrived, or nothing arrived for 2 s, or ``limit_s`` passed."""
    deadline, quiet_since = time.monotonic() + limit_s, time.monotonic()
    while time.monotonic() < deadline:
        n = int(stub_stats(stub)["accepted_sends"]) - seen.base
        now = time.monotonic()
        if n > seen.count:
            seen.count, seen.last, quiet_since = n, now, now
        if n >= expected or now - quiet_since > 2.0:
            return
        time.sleep(SAMPLE_S)


def run_kannel(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    if not kannel.available():
        raise RuntimeError(kannel.INSTALL_HINT + " (./dev bench --peer kannel does, as root)")
    options = LoadOptions(concurrency=s.saturation_concurrency)
    kopts = LoadOptions(
        concurrency=s.saturation_concurrency,
        api="kannel",
        credentials=(kannel.USER, kannel.PASSWORD),
    )
    results: dict[str, tuple[Measured, Delivered]] = {}
    with bench.components(
        "peer", {"stub": []}, [("stub", "stub", 0.04)], "stub", aiohttp=False
    ) as p:
        stub = p["stub"]

        def measure(key: str, target: Proc, procs: list[Proc], opts: LoadOptions) -> None:
            if s.warmup:
                base = int(stub_stats(stub)["accepted_sends"])
                warm = bench.load(target, requests=s.warmup, options=opts)
                # A peer's queue empties before the measured run starts.
                settle(stub, Delivered(base), int(warm.load["ok"]), s.peer_drain_s)
            # CPU until the queue was delivered: a peer keeps working after it answered.
            before = sum(proc.cpu_s() for proc in procs)
            with counting(stub) as seen:
                m = bench.load(target, requests=s.saturation_requests, options=opts)
                settle(stub, seen, int(m.load["ok"]), s.peer_drain_s)
            m.cpu_s = sum(proc.cpu_s() for proc in procs) - before
            m.peak_rss_mb = sum(proc.peak_rss_mb() for proc in procs)
            results[key] = (m, seen)

        def measure_kannel(key: str, store: bool) -> None:
            with kannel.running(bench.workdir, stub.url, store=store, name=key) as k:
                measure(key, k.sendsms, k.boxes, kopts)

        measure("lean", p["lean"], [p["lean"]], options)
        turns: list[Callable[[], None]] = [
            lambda: measure("smsproxy", p["smsproxy"], [p["smsproxy"]], options),
            lambda: measure_kannel("kannel", store=False),
        ]
        rounds: list[dict[str, tuple[Measured, Delivered]]] = []
        for _ in range(1 if s.quick else ROUNDS):
            for turn in turns:
                turn()
            rounds.append({key: results[key] for key in ("smsproxy", "kannel")})
            turns.reverse()  # each first in turn
        # The round at the median of the delivered ratio: its figures are shown.
        shown = median(rounds, _delivered_ratio)
        results.update(shown)
        measure_kannel("kannel-store", store=True)
    w.raw["rounds"] = [
        {"ratio": _delivered_ratio(r)} | {key: _raw(m, d) for key, (m, d) in r.items()}
        for r in rounds
    ]
    # Every round's sends count for these, not the median round's alone; a
    # round short of deliveries is not made up by another's late ones.
    totals = {
        key: (
            sum(int(r[key][0].load["failed"]) for r in rounds),
            sum(abs(int(r[key][0].load["ok"]) - r[key][1].count) for r in rounds),
        )
        for key in ("smsproxy", "kannel")
    }
    _rows(w, results, s.quick, totals)
    if len(rounds) > 1:
        ratios = sorted(_delivered_ratio(r) for r in rounds)
        w.notes.append(
            f"{len(rounds)} rounds of smsproxy and Kannel (in memory), in turn; the median"
            " round's figures are shown; smsproxy / Kannel delivered"
            f" {ratios[0]:.2f}-{ratios[-1]:.2f}"
        )


def _raw(m: Measured, d: Delivered) -> dict[str, object]:
    return {"load": m.load, "delivered": d.count, "delivered_per_s": d.per_s}


def _delivered_ratio(run: dict[str, tuple[Measured, Delivered]]) -> float:
    return ratio(run["smsproxy"][1].per_s, run["kannel"][1].per_s) or 0.0


def _rows(
    w: Workload,
    results: dict[str, tuple[Measured, Delivered]],
    quick: bool,
    totals: dict[str, tuple[int, int]],
) -> None:
    """The figures of ``results``; ``totals``: smsproxy's and Kannel's sends failed and
    accepted but not delivered (or delivered but not counted accepted), every round's."""
    (failed, undelivered), (peer_failed, peer_undelivered) = totals["smsproxy"], totals["kannel"]
    proxy, proxy_d = results["smsproxy"]
    lean, lean_d = results["lean"]
    peer, peer_d = results["kannel"]
    stored, stored_d = results["kannel-store"]
    w.raw.update({key: _raw(m, d) for key, (m, d) in results.items()})
    delivered, peer_delivered = proxy_d.per_s, peer_d.per_s
    beats = (
        None
        if quick or delivered is None or peer_delivered is None
        else (delivered >= peer_delivered)
    )
    w.rows += [
        Row("accepted/s (answered as taken)", proxy.ok_per_s, lean.ok_per_s, peer=peer.ok_per_s),
        Row(
            "delivered to the vendor/s (at the stub)",
            delivered,
            lean_d.per_s,
            peer=peer_delivered,
            target=">= Kannel's (no store)",
            passed=beats,
        ),
        Row(
            "  smsproxy / Kannel delivered",
            ratio(delivered, peer_delivered),
            ratio=False,
            decimals=2,
        ),
        Row(
            "latency p99 ms (to the answer)",
            proxy.latency("p99"),
            lean.latency("p99"),
            peer=peer.latency("p99"),
            ratio=False,
            decimals=2,
        ),
        Row(
            "CPU ms per 1000 sends",
            proxy.cpu_ms_per_1000(),
            lean.cpu_ms_per_1000(),
            peer=peer.cpu_ms_per_1000(),
        ),
        Row("peak RSS MB", proxy.peak_rss_mb, lean.peak_rss_mb, peer=peer.peak_rss_mb, decimals=1),
        Row("Kannel with its spool store: accepted/s", None, peer=stored.ok_per_s, ratio=False),
        Row("  delivered/s", None, peer=stored_d.per_s, ratio=False),
        Row("  CPU ms per 1000 sends", None, peer=stored.cpu_ms_per_1000(), ratio=False),
        Row(
            "accepted, not delivered once",
            undelivered,
            abs(int(lean.load["ok"]) - lean_d.count),
            peer=peer_undelivered,
            ratio=False,
            target="= 0",
            passed=undelivered == 0,
        ),
        Row(
            "sends failed",
            failed,
            lean.load["failed"],
            peer=peer_failed,
            ratio=False,
            target="= 0",
            passed=failed == 0,
        ),
    ]
    w.notes.append(
        "Kannel's CPU (bearerbox + smsbox) and RSS (their sum) run until its queue is delivered; "
        "it answers 0: Accepted when a message is queued, smsproxy when a vendor has it"
    )
