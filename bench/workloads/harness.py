"""What every workload uses: its processes, a bounded load run, and what it cost.

Every workload starts its own stub vendor(s), its own daemon(s) (with a
config file written for it) and its own pass-throughs, so peak RSS is the
workload's own and no vendor state leaks from one workload to the next.
Load comes from another process: :mod:`bench.load`, and ``wrk`` for
the saturation workload when it is installed.  Every run uses its own block
of phone numbers, so the daemon's retry de-duplication never mistakes one
run's sends for another's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import quiet, wrk
from bench.components import Proc, run_module, start_all, stop_all
from bench.stub import VENDOR_ZONE
from bench.workloads.daemon import CPID, CPPWD, Vendor, daemon_module, write_config
from bench.workloads.rows import Measured
from bench.workloads.sizes import Sizes

# The daemon a workload runs unless it names others: the operator's config, quota on.
DAEMONS: dict[str, bool] = {"smsproxy": True}


@dataclass(frozen=True)
class LoadOptions:
    """What :meth:`Bench.load` hands to :mod:`bench.load` beyond its size."""

    mode: str = "closed"
    concurrency: int = 32
    rate: float = 1000.0
    recipients: int = 1
    same_text: bool = False
    retry_every: int = 0
    api: str = "esms100"
    credentials: tuple[str, str] = (CPID, CPPWD)

    def args(self) -> list[str]:
        user, password = self.credentials
        return [
            f"--mode={self.mode}",
            f"--concurrency={self.concurrency}",
            f"--rate={self.rate}",
            f"--recipients={self.recipients}",
            f"--retry-every={self.retry_every}",
            f"--api={self.api}",
            f"--cpid={user}",
            f"--cppwd={password}",
            *(["--same-text"] if self.same_text else []),
        ]


DEFAULT_LOAD = LoadOptions()


class Bench:
    """Runs workloads in a work directory; one phone block per load run."""

    def __init__(
        self, workdir: Path, sizes: Sizes, use_wrk: bool = True, peers: tuple[str, ...] = ()
    ) -> None:
        self.workdir = workdir
        self.sizes = sizes
        self.use_wrk = use_wrk and wrk.available()
        self.peers = peers
        self._blocks = itertools.count()
        self.saturation_rate: float | None = None
        # CPUs busy outside the bench during each measured load run of the
        # workload under way (bench/quiet.py); run_workloads empties it.
        self.others_by_run: list[float] = []

    def first_phone(self) -> int:
        # Mainland mobiles run 13000000000-19999999999: 70 blocks of 10^8.
        return 13_000_000_000 + next(self._blocks) % 70 * 100_000_000

    def state_path(self, name: str, daemon: str = "smsproxy") -> Path:
        return self.workdir / f"{name}-{daemon}.sqlite3"

    def load(
        self,
        target: Proc,
        *,
        measure: Proc | list[Proc] | None = None,
        requests: int = 1000,
        duration_s: float | None = None,
        drain_s: float = 30.0,
        warmup: int = 0,
        options: LoadOptions = DEFAULT_LOAD,
    ) -> Measured:
        """One bounded load run against ``target``; CPU and RSS of ``measure``.

        ``measure`` may be several processes (a peer's boxes): their CPU is
        summed, their peak RSS too.
        """
        duration = self.sizes.duration_s if duration_s is None else duration_s
        procs = [] if measure is None else measure if isinstance(measure, list) else [measure]

        def args(n: int, cap: float) -> list[str]:
            return [
                "bench.load",
                f"--url={target.url}",
                f"--requests={n}",
                f"--duration-s={cap}",
                f"--drain-s={drain_s}",
                f"--first-phone={self.first_phone()}",
                *options.args(),
            ]

        if warmup:
            run_module(args(warmup, 5.0), timeout_s=5.0 + drain_s + 30)
        before, machine = sum(p.cpu_s() for p in procs), quiet.sample()
        result = run_module(args(requests, duration), timeout_s=duration + drain_s + 30)
        others = quiet.others_cpus(machine, quiet.sample())
        if others is not None:
            result["others_cpus"] = round(others, 2)
            self.others_by_run.append(others)
        if not procs:
            return Measured(result)
        cpu = sum(p.cpu_s() for p in procs) - before
        return Measured(result, cpu, sum(p.peak_rss_mb() for p in procs))

    def wrk_load(self, target: Proc, measure: Proc, requests: int) -> Measured:
        run_module(
            [
                "bench.load",
                f"--url={target.url}",
                f"--requests={self.sizes.warmup}",
                "--duration-s=5",
                f"--first-phone={self.first_phone()}",
                f"--cpid={CPID}",
                f"--cppwd={CPPWD}",
            ],
            timeout_s=40,
        )
        before = measure.cpu_s()
        result = wrk.run(
            target.url,
            self.workdir,
            cpid=CPID,
            cppwd=CPPWD,
            duration_s=self.sizes.duration_s,
            max_answers=requests,
            connections=self.sizes.saturation_concurrency,
            first_phone=self.first_phone(),
        )
        return Measured(result, measure.cpu_s() - before, measure.peak_rss_mb())

    @contextmanager
    def components(
        self,
        name: str,
        stubs: dict[str, list[str]],
        vendors: list[tuple[str, str, float]],
        passthrough_to: str | None,
        *,
        daemons: dict[str, bool] | None = None,
        aiohttp: bool = True,
        redis_url: str | None = None,
        reports_poll_s: float | None = None,
        proxy_from: str | None = None,
    ) -> Iterator[dict[str, Proc]]:
        """Stubs first (the daemons' configs need their ports), then daemons and pass-throughs.

        ``daemons`` names each daemon to run and whether its client has a
        quota; the pass-throughs (``lean``, and ``aiohttp`` unless told not
        to) forward to the stub ``passthrough_to``.  With ``proxy_from`` the
        daemons take the PROXY header from a load balancer there.
        """
        procs: dict[str, Proc] = {}
        # Read by a daemon from before vendor time zones, which read esms100's
        # times in the process's zone; the stub writes China time.
        env = {"TZ": VENDOR_ZONE} if reports_poll_s else None
        try:
            procs.update(
                start_all(
                    [
                        (f"{name}-{stub}", ["bench.stub", *args], "stdout")
                        for stub, args in stubs.items()
                    ],
                    self.workdir,
                )
            )
            by_stub = {stub: procs[f"{name}-{stub}"] for stub in stubs}
            specs: list[tuple[str, list[str], str]] = []
            for daemon, quota in (daemons or DAEMONS).items():
                config = write_config(
                    self.workdir / f"{name}-{daemon}.toml",
                    self.state_path(name, daemon),
                    [Vendor(vn, by_stub[stub].url, price) for vn, stub, price in vendors],
                    quota=quota,
                    redis_url=redis_url,
                    reports_poll_s=reports_poll_s,
                    proxy_from=proxy_from,
                )
                specs.append(
                    (
                        f"{name}-{daemon}",
                        [*daemon_module(), "run", "--config", str(config)],
                        "stderr",
                    )
                )
            if passthrough_to is not None:
                upstream = by_stub[passthrough_to].url
                specs.append((f"{name}-lean", ["bench.lean", "--upstream", upstream], "stdout"))
                if aiohttp:
                    specs.append(
                        (f"{name}-aiohttp", ["bench.passthrough", "--upstream", upstream], "stdout")
                    )
            procs.update(start_all(specs, self.workdir, env))
            for key in list(procs):
                procs[key.removeprefix(f"{name}-")] = procs.pop(key)
            yield procs
        finally:
            stop_all(procs)
