"""The daemon's collector settings: frozen start-up, and a reload that lets the old engine go."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from proxy import heap


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class Engine:
    """Stands for an engine: a cycle, as engines and their parts refer to each other."""

    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_what_start_up_built_and_collects_young_objects_less_often(
    collector: None,
) -> None:
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.YOUNG_EVERY, heap.MIDDLE_EVERY, heap.OLD_EVERY)


def test_a_reload_lets_the_replaced_engines_frozen_cycles_be_collected(collector: None) -> None:
    old = Engine()
    gone = weakref.ref(old)
    heap.settle()  # the daemon is up: the engine is frozen with the rest
    del old  # a reload replaced it
    gc.collect()
    assert gone() is not None, "a frozen cycle is never collected"
    heap.after_reload()
    assert gone() is None
    assert gc.get_freeze_count() > 0  # what is left is frozen again


def test_a_heap_never_frozen_stays_unfrozen(collector: None) -> None:
    heap.after_reload()
    assert gc.get_freeze_count() == 0
