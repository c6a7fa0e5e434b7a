"""Was the machine quiet while a workload ran?  The CPU spent outside the bench.

The latency targets hold "on a quiet run", and a 2-core machine shared with
anything else is not one: another program spinning on a core (or a core's
worth of kernel writeback) left the generator, the stub and the process
measured one core between them: smsproxy's added p99 at 1,000 sends/s read
1.7 ms in one run and 86 ms in another of the same code, while the lean
pass-through, needing a third of its CPU, stayed under 21 ms.  So each workload
notes how many CPUs were busy outside the bench meanwhile, and each load
run's figures have it for the run (``others_cpus``).

Busy is the user, nice and system time of ``/proc/stat`` (interrupts left
out: the bench's own loopback traffic is handled there), and its steal: the
time a virtual machine's CPUs were ready to run and the hypervisor ran
someone else's instead.  On a VM that jitters so, the direct-to-stub p99 at
1,000 sends/s read 3.6 ms and the lean pass-through's added p99 5.7 ms, with
nothing else running in the VM.  The bench's own
is every process of its session, each counting its reaped children too
(``cutime`` and ``cstime``: a child the bench has waited for counts in the
bench's).  The rest is other programs', and the kernel's own threads'.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from bench.procs import CLOCK_TICKS

PROC = Path("/proc")
# Above this, on average, a workload's timings say more about the machine than about smsproxy.
BUSY_CPUS = 0.25


class CpuSample(NamedTuple):
    at: float  # monotonic seconds
    busy_s: float  # the whole machine's, stolen time included
    ours_s: float  # the bench's session's


def sample() -> CpuSample | None:
    """The machine's and the bench's CPU seconds so far; None without ``/proc/stat``."""
    try:
        fields = (PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system = (int(f) for f in fields[1:4])
    steal = int(fields[8]) if len(fields) > 8 else 0
    busy = user + nice + system + steal
    return CpuSample(time.monotonic(), busy / CLOCK_TICKS, _session_cpu_s())


def _session_cpu_s() -> float:
    session = os.getsid(0)
    ticks = 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # After the command's closing parenthesis: state, ppid, pgrp, session, ...
        rest = stat[stat.rindex(")") + 2 :].split()
        if int(rest[3]) == session:
            ticks += sum(int(f) for f in rest[11:15])  # utime, stime, cutime, cstime
    return ticks / CLOCK_TICKS


def others_cpus(before: CpuSample | None, after: CpuSample | None) -> float | None:
    """CPUs busy outside the bench between the two samples, on average."""
    if before is None or after is None or after.at <= before.at:
        return None
    others = (after.busy_s - before.busy_s) - (after.ours_s - before.ours_s)
    return max(0.0, others) / (after.at - before.at)


def note(cpus: float, by_run: Sequence[float] = ()) -> str:
    """What a workload's table says: ``cpus`` over the workload, ``by_run`` during
    each measured load run (a neighbour busy for ten seconds of a minute
    spoils one run and hardly shows in the average)."""
    busy = (
        f"{cpus:.2f} CPUs busy outside the bench meanwhile (other programs, the kernel,"
        " the hypervisor's steal), on average"
    )
    worst = max([cpus, *by_run])
    if by_run:
        busy += f", {max(by_run):.2f} in its busiest measured run"
    if worst <= BUSY_CPUS:
        return f"{busy} (quiet)"
    return f"{busy}: NOT a quiet run, its timings are the machine's as much as smsproxy's"
