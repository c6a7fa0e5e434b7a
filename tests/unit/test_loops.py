"""Background loops: a failure is logged and retried after a back-off; a cancel ends it at once."""

from __future__ import annotations

import asyncio
import itertools

from structlog.testing import capture_logs

from proxy.loops import BackOff, Loop, cancel_all, stop_all


def test_the_back_off_doubles_up_to_its_cap() -> None:
    back_off = BackOff(first_s=0.5, max_s=3.0)
    assert [back_off.after(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert back_off.after(10_000) == 3.0


async def gaps_between_steps(from_start: bool) -> list[float]:
    """Gaps between the starts of steps that take 0.06 s, 0.1 s apart."""
    starts: list[float] = []

    async def step() -> None:
        starts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.06)

    loop = Loop("steady", step, every_s=0.1, from_start=from_start)
    loop.start()
    for _ in range(200):  # three starts, however slow the machine
        await asyncio.sleep(0.02)
        if len(starts) >= 3:
            break
    await loop.cancel()
    assert len(starts) >= 3, starts
    return [b - a for a, b in itertools.pairwise(starts)]


async def test_a_loop_rests_its_interval_after_each_step() -> None:
    gaps = await gaps_between_steps(from_start=False)
    assert all(gap >= 0.158 for gap in gaps), gaps


async def test_from_start_steps_start_an_interval_apart_however_long_they_take() -> None:
    gaps = await gaps_between_steps(from_start=True)
    # Never early (uvloop's clock counts whole milliseconds: a gap may read
    # one short), and not counted from a step's end, which would be 0.16.
    assert all(gap >= 0.098 for gap in gaps) and min(gaps) < 0.15, gaps


async def test_a_failing_step_is_logged_with_the_loops_name_and_retried_after_its_back_off() -> (
    None
):
    starts: list[float] = []

    async def step() -> None:
        starts.append(asyncio.get_running_loop().time())
        if len(starts) <= 3:
            raise OSError("store away")

    loop = Loop("flaky", step, every_s=0.01, back_off=BackOff(first_s=0.05, max_s=0.1), vendor="v1")
    with capture_logs() as logs:
        loop.start()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(starts) >= 5:
                break
        await loop.cancel()
    failed = [e for e in logs if e["event"] == "loop_failed"]
    assert [(e["loop"], e["vendor"], e["failures"]) for e in failed] == [
        ("flaky", "v1", 1),
        ("flaky", "v1", 2),
        ("flaky", "v1", 3),
    ]
    assert all(e["exc_info"] for e in failed)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 0.05, 0.1, then capped at 0.1; once it succeeds, its own pace again.
    assert gaps[0] >= 0.049 and gaps[1] >= 0.099 and gaps[2] >= 0.099, gaps
    # Its own pace (0.01) rather than the capped back-off (0.1): a margin
    # for a slow machine's late timer.
    assert gaps[3] < 0.09, gaps
    assert loop.failures == 0 and loop.steps >= 5


async def test_the_back_off_never_brings_a_step_before_its_interval() -> None:
    starts: list[float] = []

    async def step() -> None:
        starts.append(asyncio.get_running_loop().time())
        raise RuntimeError("bug")

    loop = Loop("slow", step, every_s=0.1, back_off=BackOff(first_s=0.01, max_s=0.01))
    assert not loop.from_start
    with capture_logs():
        loop.start()
        for _ in range(200):  # a second start, however slow the machine
            await asyncio.sleep(0.02)
            if len(starts) >= 2:
                break
        await loop.cancel()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps and all(gap >= 0.098 for gap in gaps), gaps


async def test_a_cancel_ends_the_loop_at_once_even_mid_step() -> None:
    entered = asyncio.Event()
    cancelled = False

    async def step() -> None:
        nonlocal cancelled
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled = True
            raise

    loop = Loop("long", step, every_s=60)
    loop.start()
    await entered.wait()
    task = loop.task
    clock = asyncio.get_running_loop().time
    started = clock()
    await loop.cancel()
    assert clock() - started < 1.0  # not the 60 s step
    assert cancelled and task is not None and task.done() and loop.task is None
    await loop.cancel()  # a second cancel is harmless


async def test_a_cancel_ends_the_loop_when_the_steps_clean_up_fails() -> None:
    # A step whose clean-up raises as it is cancelled (a connection cut while
    # it was read) turns the cancellation into an error: it must not be taken
    # for a failure to retry, leaving cancel() waiting for ever (it hung the
    # suite in a vendor-states follower's teardown).
    entered = asyncio.Event()

    async def step() -> None:
        entered.set()
        try:
            await asyncio.sleep(60)
        finally:
            raise ConnectionError("closed while reading")

    loop = Loop("follower", step, every_s=0.01)
    loop.start()
    await entered.wait()
    task = loop.task
    with capture_logs():
        async with asyncio.timeout(2.0):
            await loop.cancel()
    assert task is not None and task.done() and loop.task is None


async def test_a_cancel_ends_a_resting_loop_at_once() -> None:
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1

    loops = [Loop(f"idle-{i}", step, every_s=3600) for i in range(3)]
    for loop in loops:
        loop.start()
    await asyncio.sleep(0.01)
    clock = asyncio.get_running_loop().time
    started = clock()
    await cancel_all(loops)
    assert clock() - started < 1.0 and steps == 3  # not the hour's step
    assert all(loop.task is None for loop in loops)


async def test_first_s_delays_the_first_step_and_a_wake_cuts_a_rest_short() -> None:
    starts: list[float] = []

    async def step() -> None:
        starts.append(asyncio.get_running_loop().time())

    loop = Loop("woken", step, every_s=3600, first_s=3600)
    loop.start()
    await asyncio.sleep(0.02)
    assert starts == []
    loop.wake()
    await asyncio.sleep(0.02)
    assert len(starts) == 1
    loop.wake()
    await asyncio.sleep(0.02)
    assert len(starts) == 2
    await loop.cancel()


async def test_a_stop_lets_the_step_under_way_finish_and_begins_no_other() -> None:
    finished = 0
    entered = asyncio.Event()

    async def step() -> None:
        nonlocal finished
        entered.set()
        await asyncio.sleep(0.05)
        finished += 1

    loop = Loop("graceful", step, every_s=0.0)
    loop.start()
    await entered.wait()
    await stop_all([loop], grace_s=1.0)
    assert finished == 1 and loop.steps == 1 and loop.task is None


async def test_a_step_too_slow_for_the_grace_is_cancelled() -> None:
    async def step() -> None:
        await asyncio.sleep(60)

    loop = Loop("stuck", step, every_s=1.0)
    loop.start()
    await asyncio.sleep(0.01)
    clock = asyncio.get_running_loop().time
    started = clock()
    await stop_all([loop], grace_s=0.05)
    assert clock() - started < 0.5 and loop.task is None and loop.steps == 0
