"""1000-recipient sends (one campaign text, fan-out into vendor chunks), and the state they leave.

After smsproxy's run, while it still runs, the state on disk (the SQLite
file and its write-ahead log) over the recipients it sent: what a day's
traffic costs in disk.
"""

from __future__ import annotations

from bench.workloads.books import stub_stats
from bench.workloads.daemon import state_bytes
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Runs, Workload, cost_rows, failed_row, latency_rows

KEY = "fanout"
TITLE = "1000-recipient sends (fan-out into vendor chunks)"
MIN_RECIPIENTS_PER_S = 300_000
MAX_CPU_MS_PER_SEND = 3.0
MAX_STATE_BYTES_PER_RECIPIENT = 40.0


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    w.title += (
        f" ({s.fanout_recipients} numbers a send, one campaign text, "
        f"{s.fanout_concurrency} connections)"
    )
    options = LoadOptions(
        concurrency=s.fanout_concurrency, recipients=s.fanout_recipients, same_text=True
    )
    with bench.components(KEY, {"stub": []}, [("stub", "stub", 0.04)], "stub") as p:

        def load(target: str, measured: bool = True) -> Measured:
            return bench.load(
                p[target],
                measure=p[target] if measured else None,
                requests=s.fanout_requests,
                warmup=s.warmup // 50,
                options=options,
            )

        direct = load("stub", measured=False)
        lean, aio = load("lean"), load("aiohttp")
        # Everything the stub takes from here on came through smsproxy.
        before = int(stub_stats(p["stub"])["recipients"])
        proxy = load("smsproxy")
        stats = stub_stats(p["stub"])
        on_disk = state_bytes(bench.state_path(KEY))
    sent = int(stats["recipients"]) - before
    runs = Runs(proxy, lean, aio, direct)
    w.raw.update(runs.raw(), stub=stats, state_bytes=on_disk, recipients_sent=sent)
    w.rows.append(runs.row("sends/s", "ok_per_s", decimals=1))
    rps = proxy.load["recipients_per_s"]
    w.rows.append(
        runs.row(
            "recipients/s",
            "recipients_per_s",
            target=f">= {MIN_RECIPIENTS_PER_S:,}/s",
            passed=None if s.quick else rps >= MIN_RECIPIENTS_PER_S,
        )
    )
    w.rows += latency_rows(runs)
    w.rows += cost_rows(runs)
    cpu = proxy.cpu_ms_per_1000()
    lean_cpu, aio_cpu = lean.cpu_ms_per_1000(), aio.cpu_ms_per_1000()
    per_send = None if cpu is None else cpu / 1000
    w.rows.append(
        Row(
            "  CPU ms per send",
            per_send,
            None if lean_cpu is None else lean_cpu / 1000,
            None if aio_cpu is None else aio_cpu / 1000,
            target=f"<= {MAX_CPU_MS_PER_SEND:g} ms",
            passed=None if s.quick or per_send is None else per_send <= MAX_CPU_MS_PER_SEND,
            decimals=2,
        )
    )
    per_recipient = on_disk / sent if sent else None
    w.rows.append(
        Row(
            "state bytes per recipient (file + WAL)",
            per_recipient,
            ratio=False,
            target=f"<= {MAX_STATE_BYTES_PER_RECIPIENT:g} bytes",
            passed=None
            if s.quick or per_recipient is None
            else per_recipient <= MAX_STATE_BYTES_PER_RECIPIENT,
            decimals=1,
        )
    )
    w.notes.append(
        f"state on disk after the run: {on_disk:,} bytes (SQLite file and WAL, the empty "
        f"schema included) for {sent:,} recipients sent through smsproxy, warm-up included"
    )
    w.rows.append(failed_row(runs))
