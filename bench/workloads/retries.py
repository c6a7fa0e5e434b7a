"""Client retries: one send in ten repeated with the same number and text; none sent twice.

A legacy client that timed out sends the same request again.  Here one
request in ``retry_every`` repeats the send issued a round of connections
before it (answered already, or still in flight: both happen), at
saturation.  Every retry must be answered ``0`` (the number is at a vendor)
and the vendor's own books must hold every number once.  The lean
pass-through's books are kept too: it resends every retry, which shows the
check catches a duplicate.
"""

from __future__ import annotations

from bench.workloads.books import check_books, stub_phones
from bench.workloads.harness import Bench, LoadOptions
from bench.workloads.rows import Measured, Row, Runs, Workload, cost_rows, failed_row, latency_rows

KEY = "retries"
TITLE = "client retries (the same number and text again)"


def run(bench: Bench, w: Workload) -> None:
    s = bench.sizes
    w.title += f" (1 send in {s.retry_every} a retry, {s.saturation_concurrency} connections)"
    stubs = {"books": ["--track"], "plain": ["--track"]}
    options = LoadOptions(concurrency=s.saturation_concurrency, retry_every=s.retry_every)
    with bench.components(KEY, stubs, [("stub", "books", 0.04)], "plain", aiohttp=False) as p:

        def load(target: str) -> Measured:
            return bench.load(
                p[target],
                measure=p[target],
                requests=s.saturation_requests,
                options=options,
            )

        # No warm-up: the books must hold this run's sends alone.
        lean, proxy = load("lean"), load("smsproxy")
        books, plain = stub_phones(p["books"]), stub_phones(p["plain"])
    runs = Runs(proxy, lean)
    checked = check_books(int(proxy.load["distinct_ok"]), [books])
    lean_checked = check_books(int(lean.load["distinct_ok"]), [plain])
    w.raw.update(runs.raw(), books=checked, lean_books=lean_checked)
    retries, answered = int(proxy.load["retries"]), int(proxy.load["retries_ok"])
    w.rows.append(runs.row("sends/s (retries included)", "ok_per_s"))
    w.rows += latency_rows(runs, added=False)
    w.rows += cost_rows(runs)
    w.rows += [
        runs.row("retries sent", "retries", ratio=False),
        Row(
            "  retries answered 0",
            answered,
            lean.load["retries_ok"],
            ratio=False,
            target="= retries sent",
            passed=retries > 0 and answered == retries,
        ),
        Row(
            "sends duplicated (vendor books)",
            checked["duplicated"],
            lean_checked["duplicated"],
            ratio=False,
            target="= 0",
            passed=checked["duplicated"] == 0,
        ),
        Row(
            "sends answered 0, at no vendor",
            checked["missing"],
            ratio=False,
            target="= 0",
            passed=checked["missing"] == 0,
        ),
        failed_row(runs),
    ]
    w.notes.append(
        "the lean pass-through resends every retry: its duplicates show the books' check works"
    )
