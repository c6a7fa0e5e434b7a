"""``python -m bench.state_size``: the SQLite send log's bytes per recipient, in-process.

The fan-out workload's figure comes from a daemon under load, the WAL
included, its numbers consecutive.  This writes sends of 1000 numbers
straight to a :class:`~proxy.store.sqlite.store.SqliteStore` (in flight,
then settled, as the send path does), copies the WAL into the file, and
prints the file's bytes per recipient and each table's share (SQLite's
dbstat): consecutive numbers as the bench sends them, or ``--random``
numbers as a real campaign's, which spread over the number index.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from proxy.store.sends import RecordState, SendChunk, SendSettlement
from proxy.store.sqlite.store import SqliteStore

PER_SEND = 1000
FIRST_PHONE = 13_000_000_000
T0 = 1_700_000_000_000


async def measure(path: Path, sends: int, rng: random.Random | None) -> float:
    """Write the sends; the CPU seconds their writes took."""
    store = await SqliteStore.open(path)
    cpu = 0.0
    try:
        for i in range(sends):
            if rng is None:
                base = FIRST_PHONE + i * PER_SEND
                numbers = tuple(str(base + j) for j in range(PER_SEND))
            else:
                numbers = tuple(
                    str(rng.randrange(FIRST_PHONE, 20_000_000_000)) for _ in range(PER_SEND)
                )
            chunk = SendChunk(
                f"s{i}", "acme", "v1", numbers, RecordState.IN_FLIGHT, "", None, "d" * 32, 1, T0 + i
            )
            started = time.process_time()
            key = await store.sends.record_sends([chunk])
            settled = SendSettlement(key, PER_SEND, RecordState.ACCEPTED, "0")
            await store.sends.record_sends([], [settled])
            cpu += time.process_time() - started
    finally:
        await store.close()
    return cpu


def tables(path: Path) -> list[tuple[str, int, int, int]]:
    """(name, bytes, payload bytes, unused bytes) of each table and index, largest first."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = db.execute(
            "SELECT name, sum(pgsize), sum(payload), sum(unused) FROM dbstat"
            " GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    db.close()
    return [(str(n), int(b), int(p), int(u)) for n, b, p, u in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.state_size", description=__doc__)
    parser.add_argument("--sends", type=int, default=1000, help="sends of 1000 numbers (1000)")
    parser.add_argument("--random", action="store_true", help="random numbers, not consecutive")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smsproxy-state-size-") as work:
        path = Path(work) / "state.sqlite3"
        rng = random.Random(1) if args.random else None  # noqa: S311 (test numbers, not secrets)
        cpu = asyncio.run(measure(path, args.sends, rng))
        parts = tables(path)
        recipients = args.sends * PER_SEND
        size = path.stat().st_size
        kind = "random" if args.random else "consecutive"
        print(f"{recipients:,} recipients ({kind} numbers, {PER_SEND} a send)")
        print(f"state file after a checkpoint: {size:,} bytes, {size / recipients:.2f} a recipient")
        print(f"CPU of a send's two writes: {cpu / args.sends * 1000:.3f} ms")
        for name, total, payload, unused in parts:
            if total * 100 >= size:  # 1% or more
                print(
                    f"  {name:24} {total / recipients:6.2f} B a recipient"
                    f" (payload {payload / recipients:.2f}, unused {unused / recipients:.2f})"
                )


if __name__ == "__main__":
    main()
