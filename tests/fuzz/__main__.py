"""``python -m tests.fuzz``: a long fuzz run of the legacy port, or one case replayed.

Against a daemon it starts (with an esms100 simulator as its vendor)::

    .venv/bin/python -m tests.fuzz --cases 100000 --seed 7

against one already running, whose vendors are simulators (the cases' sends
go out to random numbers), as a test client of it, with its ``[http]``
time-outs::

    .venv/bin/python -m tests.fuzz --target http://127.0.0.1:8080 --cpid fuzz \\
        --password 'fuzz-pass-1' --head-timeout 60 --body-timeout 60 --cases 100000

and one case of a failed run, by its seed and index, printed in full::

    .venv/bin/python -m tests.fuzz --seed 7 --case 1234

Exits 1 when any case, the good sends, the memory or the log failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from proxy import event_loop
from tests.fuzz.campaign import Report, fuzz
from tests.fuzz.case import Account, TargetLimits
from tests.fuzz.runner import Played
from tests.fuzz.target import LocalDaemon, Target

PROGRESS_EVERY_S = 10.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=100_000, help="how many (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--case", type=int, help="replay this one case and print it in full")
    parser.add_argument("--connections", type=int, default=32, help="at once (default 32)")
    parser.add_argument("--workdir", type=Path, help="keep the daemon's config, state and log here")
    remote = parser.add_argument_group("a daemon already running")
    remote.add_argument("--target", help="its legacy port, http://HOST:PORT")
    remote.add_argument("--cpid", help="a client of it the cases log in as")
    remote.add_argument("--password", help="that client's password (not its cppwd)")
    remote.add_argument("--pid", type=int, help="its process, to watch its memory")
    remote.add_argument("--log", type=Path, help="its JSON log, to look for tracebacks")
    defaults = TargetLimits(head_timeout_s=60.0, body_timeout_s=60.0, keepalive_s=75.0)
    remote.add_argument("--head-timeout", type=float, default=defaults.head_timeout_s)
    remote.add_argument("--body-timeout", type=float, default=defaults.body_timeout_s)
    remote.add_argument("--keepalive", type=float, default=defaults.keepalive_s)
    remote.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes)
    args = parser.parse_args(argv)
    if args.target and not (args.cpid and args.password):
        parser.error("--target needs --cpid and --password")
    return args


def remote_target(args: argparse.Namespace) -> Target:
    host, _, port = args.target.removeprefix("http://").rstrip("/").rpartition(":")
    limits = TargetLimits(
        head_timeout_s=args.head_timeout,
        body_timeout_s=args.body_timeout,
        keepalive_s=args.keepalive,
        max_body_bytes=args.max_body_bytes,
    )
    account = Account(args.cpid, args.password)
    return Target(host, int(port), account, limits, pid=args.pid, log=args.log)


class Progress:
    """A line every so often, and every failed case in full (every case, with ``verbose``)."""

    def __init__(self, total: int, verbose: bool = False) -> None:
        self.total = total
        self.verbose = verbose
        self.done = 0
        self.failed = 0
        self.started = self.shown = time.monotonic()

    def __call__(self, played: Played) -> None:
        self.done += 1
        if played.faults:
            self.failed += 1
        if played.faults or self.verbose:
            print(played.describe(), file=sys.stderr, flush=True)
        now = time.monotonic()
        if now - self.shown >= PROGRESS_EVERY_S:
            self.shown = now
            print(
                f"{self.done}/{self.total} cases, {self.failed} failed,"
                f" {self.done / (now - self.started):.0f}/s",
                flush=True,
            )


async def run(args: argparse.Namespace) -> Report:
    first, count = (args.case, 1) if args.case is not None else (args.first, args.cases)
    connections = 1 if args.case is not None else args.connections
    progress = Progress(count, verbose=args.case is not None)

    async def against(target: Target) -> Report:
        return await fuzz(
            target,
            seed=args.seed,
            count=count,
            first=first,
            connections=connections,
            on_played=progress,
        )

    if args.target:
        return await against(remote_target(args))
    with tempfile.TemporaryDirectory(prefix="smsproxy-fuzz-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        async with LocalDaemon(workdir, args.seed) as target:
            return await against(target)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    report = event_loop.run(run(args))
    print(report.summary())
    faults = report.faults()
    for fault in faults:
        print("FAIL:", fault)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
