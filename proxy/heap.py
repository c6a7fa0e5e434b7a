"""How the daemon's cyclic garbage collector runs.

A send makes a few hundred short-lived objects, nearly all freed by their
reference counts; the collector still walks every container allocated
since its last pass, 700 allocations apart by default, and with them the
sends in flight, which survive into the older generations and are walked
again there.  At saturation that was 3.5% of the daemon's CPU (0.21 s of
6.0 s, counted with ``gc.callbacks``); every 20,000 allocations, 0.7%.  A
young pass then takes 0.1 to 1 ms, an older one a few, rarely.

What start-up built lives as long as the process: it is frozen
(:func:`gc.freeze`), so no pass walks it.  A reload replaces the engine, so
what was frozen is let go and collected once (cycles in the old engine
would otherwise be kept for ever), and what is left frozen again.
"""

from __future__ import annotations

import gc
import time

import structlog

log = structlog.get_logger("smsproxy")

YOUNG_EVERY = 20_000  # allocations between passes over the youngest generation
MIDDLE_EVERY = 20  # young passes between passes over the middle one
OLD_EVERY = 100  # middle passes between full ones


def settle() -> None:
    """Once the daemon is built: freeze what it built, collect young objects less often.

    Called before the pollers and ports start (:meth:`proxy.state.DaemonState.open`):
    the collection holds the event loop 15-50 ms, and a poll answer that came
    in meanwhile waited that long to be spooled, at risk from a kill.
    """
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_EVERY, MIDDLE_EVERY, OLD_EVERY)
    log.info(
        "heap_settled",
        frozen=gc.get_freeze_count(),
        collect_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def after_reload() -> None:
    """Let the replaced engine's frozen objects be collected; freeze the rest again.

    Nothing to do where the heap was never frozen (a daemon inside a test)."""
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
        gc.freeze()
