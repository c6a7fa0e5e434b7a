"""Single-recipient sends at saturation: smsproxy (client quota on) beside the pass-throughs.

32 connections in a closed loop, every send one number and its own
verification code.  Two daemons run on the same stub: the operator's
config (client quota on), which every ratio is about, and the same config
without the quota, whose rate beside it is what the quota costs.

One run differs from the next on a virtual machine by more than the
targets leave (sends/s over lean 0.26 to 0.47, CPU 3.9x to 5.2x, quota on /
off 0.70 to 1.31 for the same code on one day), so no ratio is read off
one run of each: lean, smsproxy and smsproxy without the quota run in
turn for several rounds, the order rotating, and each ratio is that of the
round at its median; the spread is printed beside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import wrk
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import (
    Measured,
    Row,
    Runs,
    Workload,
    cost_rows,
    failed_row,
    in_turn,
    median,
    ratio,
    throughput_rows,
)

KEY = "saturation"
TITLE = "single-recipient sends at saturation"
MIN_RATIO = 0.3  # of the lean pass-through's sends/s
CPU_MAX_RATIO = 4.0  # of the lean pass-through's CPU a send
QUOTA_MIN_RATIO = 0.95  # sends/s with the quota on / off: the quota costs <= 5%
ROUNDS = 5  # rounds of lean, smsproxy and smsproxy without the quota, in turn
WRK_ROUNDS = 3  # rounds of lean and smsproxy under wrk, in turn


@dataclass
class Round:
    lean: Measured
    proxy: Measured
    noquota: Measured

    def sends(self) -> float:
        return ratio(self.proxy.ok_per_s, self.lean.ok_per_s) or 0.0

    def cpu(self) -> float:
        return ratio(self.proxy.cpu_ms_per_1000(), self.lean.cpu_ms_per_1000()) or 0.0

    def quota(self) -> float:
        return ratio(self.proxy.ok_per_s, self.noquota.ok_per_s) or 0.0


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    w.title += f" ({s.saturation_concurrency} connections)"
    daemons = {"smsproxy": True, "noquota": False}
    with bench.components(
        KEY, {"stub": []}, [("stub", "stub", 0.04)], "stub", daemons=daemons
    ) as p:
        options = LoadOptions(concurrency=s.saturation_concurrency)

        def load(target: str, measured: bool = True) -> Measured:
            return bench.load(
                p[target],
                measure=p[target] if measured else None,
                requests=s.saturation_requests,
                warmup=s.warmup,
                options=options,
            )

        failed = 0
        direct = load("stub", measured=False)
        aio = load("aiohttp")
        rounds: list[Round] = []
        order = ["lean", "smsproxy", "noquota"]
        for _ in range(1 if s.quick else ROUNDS):
            runs_of = {t: load(t) for t in order}
            rounds.append(Round(runs_of["lean"], runs_of["smsproxy"], runs_of["noquota"]))
            order = order[1:] + order[:1]  # each target first, middle and last in turn
        # Each figure is read off the round at its median; that round's rows are shown.
        by_sends, by_cpu, by_quota = (
            median(rounds, f) for f in (Round.sends, Round.cpu, Round.quota)
        )
        runs = Runs(by_sends.proxy, by_sends.lean, aio, direct)
        w.raw.update(
            runs.raw(),
            noquota=by_quota.noquota.load,
            rounds=[{"sends": r.sends(), "cpu": r.cpu(), "quota": r.quota()} for r in rounds],
        )
        bench.saturation_rate = by_sends.proxy.ok_per_s
        w.rows += throughput_rows(runs, "load.py", s.quick, MIN_RATIO)
        w.rows += cost_rows(Runs(by_cpu.proxy, by_cpu.lean, aio), CPU_MAX_RATIO, s.quick)
        cost = by_quota.quota()
        w.rows += [
            Row(
                "sends/s with the client quota off",
                by_quota.noquota.ok_per_s,
                by_quota.lean.ok_per_s,
            ),
            Row(
                "  quota on / off (its cost)",
                cost,
                ratio=False,
                target=f">= {QUOTA_MIN_RATIO} (costs <= 5%)",
                passed=None if s.quick else cost >= QUOTA_MIN_RATIO,
                decimals=2,
            ),
            Row(
                "  CPU ms per 1000 sends, quota off",
                by_quota.noquota.cpu_ms_per_1000(),
                by_quota.lean.cpu_ms_per_1000(),
            ),
        ]
        if len(rounds) > 1:

            def spread(f: Callable[[Round], float]) -> str:
                values = sorted(f(r) for r in rounds)
                return f"{values[0]:.2f}-{values[-1]:.2f}"

            w.notes.append(
                f"{len(rounds)} rounds of lean, smsproxy and smsproxy without the quota, in turn;"
                " each ratio is the median round's (its rows shown): sends/s over lean"
                f" {spread(Round.sends)}, CPU a send over lean {spread(Round.cpu)},"
                f" quota on / off {spread(Round.quota)}"
            )
        if bench.use_wrk:
            # One wrk run of each read 0.18 and 0.28 of lean on two days of the
            # same code: in rounds too, like every other figure.
            pairs = in_turn(
                1 if s.quick else WRK_ROUNDS,
                lambda t: bench.wrk_load(p[t], p[t], s.saturation_requests),
            )
            wlean, wproxy = median(pairs, lambda r: ratio(r[1].ok_per_s, r[0].ok_per_s) or 0.0)
            wruns = Runs(wproxy, wlean)
            w.raw.update(
                wrk_baseline=wlean.load,
                wrk_smsproxy=wproxy.load,
                wrk_rounds=[ratio(pr.ok_per_s, le.ok_per_s) for le, pr in pairs],
            )
            failed += sum(int(pr.load["failed"]) for _, pr in pairs)
            if len(pairs) > 1:
                wrk_ratios = sorted(ratio(pr.ok_per_s, le.ok_per_s) or 0.0 for le, pr in pairs)
                w.notes.append(
                    f"wrk: {len(pairs)} rounds of lean and smsproxy, in turn; the median round"
                    f" is shown (sends/s over lean {wrk_ratios[0]:.2f}-{wrk_ratios[-1]:.2f})"
                )
            w.rows += throughput_rows(wruns, "wrk", s.quick, MIN_RATIO)
            w.rows.append(
                Row(
                    "  CPU ms per 1000 sends (wrk)",
                    wproxy.cpu_ms_per_1000(),
                    wlean.cpu_ms_per_1000(),
                )
            )
        elif not wrk.available():
            w.notes.append(f"wrk figures skipped: {wrk.INSTALL_HINT}")
        else:
            w.notes.append("wrk figures skipped (--quick or --no-wrk)")
    failed += sum(int(m.load["failed"]) for r in rounds for m in (r.proxy, r.noquota))
    w.rows.append(failed_row(runs, failed=failed))
    w.notes.append(
        "smsproxy runs the operator's config: client quota on (config/example.toml sets one), "
        "the example's dedup window; the quota-off daemon differs in that alone"
    )
