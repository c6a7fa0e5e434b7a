"""Fair admission: turns round-robin across clients, and -15 at once when busy."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from prometheus_client import CollectorRegistry

from proxy.admission import AdmissionLimits, Busy, FairAdmission, RefusalLog
from proxy.metrics import Metrics


class Sends:
    """Sends that take a turn, note when they got it, and hold it until let go."""

    def __init__(self, admission: FairAdmission) -> None:
        self.admission = admission
        self.order: list[str] = []
        self.refused: dict[str, str] = {}
        self._done: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, client: str, name: str) -> None:
        self._done[name] = asyncio.Event()
        self.tasks[name] = asyncio.create_task(self._send(client, name))
        await asyncio.sleep(0)  # it reaches its place before the next one starts

    async def _send(self, client: str, name: str) -> None:
        try:
            async with self.admission.turn(client):
                self.order.append(name)
                await self._done[name].wait()
        except Busy as busy:
            self.refused[name] = busy.reason

    async def finish(self, name: str) -> None:
        self._done[name].set()
        await self.tasks[name]
        await asyncio.sleep(0)  # the next one's task notes its turn


def limits(in_flight: int = 1, per_client: int = 100, waiting: int = 100) -> AdmissionLimits:
    return AdmissionLimits(in_flight, per_client, waiting)


async def test_waiting_sends_take_turns_round_robin_across_clients() -> None:
    sends = Sends(FairAdmission(limits(in_flight=1)))
    await sends.start("flood", "f0")
    for name in ("f1", "f2", "f3", "f4"):
        await sends.start("flood", name)
    await sends.start("quiet", "q1")
    await sends.start("quiet", "q2")
    await sends.start("third", "t1")
    assert sends.order == ["f0"]
    assert repr(sends.admission) == (
        "<FairAdmission in_flight=1/1 waiting=7/100 clients_waiting=3>"
    )
    for name in ("f0", "f1", "q1", "t1", "f2", "q2", "f3", "f4"):
        await sends.finish(name)
    # Not first come, first served (f1 f2 f3 f4 q1 q2 t1): one turn each in rotation.
    assert sends.order == ["f0", "f1", "q1", "t1", "f2", "q2", "f3", "f4"]
    assert repr(sends.admission) == "<FairAdmission in_flight=0/1 waiting=0/100 clients_waiting=0>"


async def test_a_client_over_its_limit_is_refused_at_once_and_others_are_not() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, [], ["flood", "quiet"])
    sends = Sends(FairAdmission(limits(in_flight=2, per_client=3), metrics))
    for i in range(5):
        await sends.start("flood", f"f{i}")
    await sends.start("quiet", "q0")
    # f0 f1 under way, f2 waiting: three; f3 f4 refused without waiting.
    assert sends.refused == {"f3": "client_limit", "f4": "client_limit"}
    assert sends.tasks["f3"].done() and sends.tasks["f4"].done()
    await sends.finish("f0")
    assert sends.order == ["f0", "f1", "f2"]  # f2 was waiting first
    refused = "smsproxy_sends_refused_busy_total"
    assert registry.get_sample_value(refused, {"client": "flood", "reason": "client_limit"}) == 2
    assert registry.get_sample_value(refused, {"client": "quiet", "reason": "client_limit"}) == 0
    for name in ("f1", "f2", "q0"):
        await sends.finish(name)
    await sends.start("flood", "f5")  # its count went down as its sends ended
    assert "f5" in sends.order


async def test_a_full_waiting_room_refuses_the_client_with_most_waiting() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, [], ["flood", "quiet"])
    sends = Sends(FairAdmission(limits(in_flight=1, per_client=1000, waiting=3), metrics))
    for i in range(5):
        await sends.start("flood", f"f{i}")
    # f0 under way, f1-f3 fill the room; f4 refused at once.
    assert sends.refused == {"f4": "saturated"}
    await sends.start("quiet", "q0")
    await asyncio.sleep(0)
    # The flood's newest waiting send gives its place to the quiet client's.
    assert sends.refused == {"f4": "saturated", "f3": "saturated"}
    await sends.start("quiet", "q1")
    await asyncio.sleep(0)
    # quiet has 1 waiting and flood 2: neither would gain by a swap, so q1 is refused.
    assert sends.refused["q1"] == "saturated"
    await sends.finish("f0")
    await sends.finish("f1")
    assert sends.order == ["f0", "f1", "q0"]
    refused = "smsproxy_sends_refused_busy_total"
    assert registry.get_sample_value(refused, {"client": "flood", "reason": "saturated"}) == 2
    assert registry.get_sample_value(refused, {"client": "quiet", "reason": "saturated"}) == 1
    for name in ("q0", "f2"):
        await sends.finish(name)


async def test_no_waiting_room_refuses_when_every_turn_is_taken() -> None:
    sends = Sends(FairAdmission(limits(in_flight=1, waiting=0)))
    await sends.start("a", "a0")
    await sends.start("b", "b0")
    assert sends.refused == {"b0": "saturated"}
    await sends.finish("a0")


async def test_a_send_cancelled_while_waiting_gives_up_its_place() -> None:
    sends = Sends(FairAdmission(limits(in_flight=1, per_client=2)))
    await sends.start("a", "a0")
    await sends.start("a", "a1")
    await sends.start("b", "b0")
    sends.tasks["a1"].cancel()
    await asyncio.sleep(0)
    await sends.start("a", "a2")  # a1's count is gone: a has two again, not three
    assert "a2" not in sends.refused
    await sends.finish("a0")
    assert sends.order == ["a0", "b0"]
    await sends.finish("b0")
    await sends.finish("a2")
    assert sends.order == ["a0", "b0", "a2"]
    assert sends.admission.in_flight == sends.admission.waiting == 0


async def test_a_send_cancelled_as_its_turn_comes_passes_the_turn_on() -> None:
    admission = FairAdmission(limits(in_flight=1))
    await admission.acquire("a")
    b = asyncio.create_task(admission.acquire("b"))
    c = asyncio.create_task(admission.acquire("c"))
    await asyncio.sleep(0)
    admission.release("a")  # the turn is b's, but b's task has not run yet
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b
    await asyncio.wait_for(c, 1)  # b passed the turn on
    admission.release("c")
    assert admission.in_flight == admission.waiting == 0


async def test_new_limits_apply_to_the_sends_already_waiting() -> None:
    admission = FairAdmission(limits(in_flight=1))
    sends = Sends(admission)
    for name in ("a0", "a1", "a2", "a3"):
        await sends.start("a", name)
    admission.configure(limits(in_flight=3))
    await asyncio.sleep(0)
    assert sends.order == ["a0", "a1", "a2"]
    admission.configure(limits(in_flight=1))  # fewer: the ones under way finish
    await sends.finish("a0")
    await sends.finish("a1")
    assert sends.order == ["a0", "a1", "a2"]
    await sends.finish("a2")
    assert sends.order == ["a0", "a1", "a2", "a3"]
    await sends.finish("a3")


async def test_a_flood_of_refusals_is_logged_once_and_then_summed_up() -> None:
    admission = FairAdmission(limits(in_flight=1, per_client=1, waiting=0), None, RefusalLog(0.5))
    sends = Sends(admission)
    await sends.start("a", "a0")
    with structlog.testing.capture_logs() as logs:
        for i in range(1, 501):
            await sends.start("a", f"a{i}")
        await sends.start("b", "b0")
        await sends.start("b", "b1")
        # The summary interval is long beside 500 refusals even on a loaded host.
        await asyncio.sleep(0.6)
    lines = [e for e in logs if e["event"] == "sends_refused_busy"]
    assert len(lines) == 2, lines
    assert lines[0]["client"] == "a" and lines[0]["reason"] == "client_limit"
    assert lines[1]["refused"] == {"a": {"client_limit": 499}, "b": {"saturated": 2}}
    await sends.finish("a0")
