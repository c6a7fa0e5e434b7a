"""The bench's workloads, one module each, and the order they run in.

Each workload module has a ``KEY`` (its ``--only`` name), a ``TITLE`` and
``run(bench, workload)``, which starts its own processes through
:class:`~bench.workloads.harness.Bench` and fills the workload's rows.
Shared parts: :mod:`~bench.workloads.sizes` (how much load),
:mod:`~bench.workloads.daemon` (the daemon's config),
:mod:`~bench.workloads.harness` (processes and load runs),
:mod:`~bench.workloads.rows` (figures, targets), :mod:`~bench.workloads.books`
(the stub vendors' books).  The peer workload runs only when asked for
(``--peer kannel``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType

from bench import quiet
from bench.workloads import (
    cluster,
    contention,
    failover,
    fanout,
    latency,
    peer,
    reports,
    retries,
    saturation,
    slow,
)
from bench.workloads.harness import Bench
from bench.workloads.rows import Row, Workload
from bench.workloads.sizes import Sizes

__all__ = ["PEERS", "WORKLOADS", "Bench", "Row", "Sizes", "Workload", "run_workloads"]

_MODULES: tuple[ModuleType, ...] = (
    saturation,
    latency,
    fanout,
    slow,
    failover,
    retries,
    contention,
    reports,
    cluster,
)
WORKLOADS: tuple[str, ...] = tuple(m.KEY for m in _MODULES)
PEERS: tuple[str, ...] = peer.PEERS


def run_workloads(bench: Bench, keys: list[str] | None = None) -> list[Workload]:
    """The chosen workloads (all when ``keys`` is empty), then the peers the bench was given."""
    chosen: list[tuple[str, str, Callable[[Bench, Workload], None]]] = [
        (m.KEY, m.TITLE, m.run) for m in _MODULES if not keys or m.KEY in keys
    ]
    chosen += [(f"peer-{name}", peer.title(name), peer.runner(name)) for name in bench.peers]
    out = []
    for key, title, fn in chosen:
        workload = Workload(key, title)
        started, cpu = time.monotonic(), quiet.sample()
        bench.others_by_run.clear()
        try:
            fn(bench, workload)
        except Exception as exc:  # one broken workload must not hide the others
            workload.error = f"{type(exc).__name__}: {exc}"
        workload.raw["wall_s"] = round(time.monotonic() - started, 1)
        others = quiet.others_cpus(cpu, quiet.sample())
        if others is not None:
            workload.raw["others_cpus"] = round(others, 2)
            workload.notes.append(quiet.note(others, bench.others_by_run))
        out.append(workload)
    return out
