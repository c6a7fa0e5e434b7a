"""Vendor health learns from outcomes; its repr tells an operator what it knows."""

from __future__ import annotations

from core.outcome import Outcome
from routing.health import HealthPolicy, VendorHealth, VendorState
from routing.knowledge import Learned, Part, Seen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(clock: Clock) -> VendorHealth:
    policy = HealthPolicy(
        failures_to_eject=3,
        base_ejection_s=10,
        max_ejection_s=40,
        config_ejection_s=100,
        back_off_s=2,
        jitter=0.0,
    )
    return VendorHealth("v", policy, clock=clock, rng=lambda: 0.5)


def test_consecutive_failures_eject_then_a_probe_decides() -> None:
    clock = Clock()
    h = health(clock)
    h.record(Outcome.VENDOR_BUSY)
    h.record(Outcome.UNREACHABLE)
    assert h.state is VendorState.ROUTABLE and h.available()
    h.record(Outcome.AMBIGUOUS)
    assert h.state is VendorState.EJECTED and not h.available()
    assert repr(h) == (
        "<VendorHealth v ejected reason=ambiguous failures=3 ejections=1 left=10.0s balance=None>"
    )
    clock.now += 10
    assert h.available()
    h.begin_attempt()
    assert not h.available()  # one probe at a time
    h.record(Outcome.VENDOR_BUSY)  # the probe failed: ejected again, for longer
    assert h.state is VendorState.EJECTED
    assert h.seconds_left() == 20.0
    clock.now += 20
    h.begin_attempt()
    h.record(Outcome.ACCEPTED)
    assert h.state is VendorState.ROUTABLE and h.consecutive_failures == 0


def test_ejection_time_is_capped() -> None:
    clock = Clock()
    h = health(clock)
    for _ in range(10):
        h.record(Outcome.UNREACHABLE)
        clock.now += 1000
    h.record(Outcome.UNREACHABLE)
    assert h.seconds_left() == 40.0


def test_success_resets_the_failure_count() -> None:
    h = health(Clock())
    h.record(Outcome.VENDOR_BUSY)
    h.record(Outcome.VENDOR_BUSY)
    h.record(Outcome.ACCEPTED)
    h.record(Outcome.VENDOR_BUSY)
    assert h.state is VendorState.ROUTABLE


def test_balance_exhausted_drains_until_money_shows() -> None:
    clock = Clock()
    h = health(clock)
    h.record(Outcome.BALANCE_EXHAUSTED)
    assert h.state is VendorState.DRAINED and not h.available()
    h.record_balance(0)
    assert h.state is VendorState.DRAINED
    h.record_balance(500)
    assert h.state is VendorState.ROUTABLE and h.balance_segments == 500


def test_rate_limited_backs_off_briefly() -> None:
    clock = Clock()
    h = health(clock)
    h.record(Outcome.RATE_LIMITED)
    assert h.state is VendorState.BACKED_OFF and not h.available()
    clock.now += 2
    assert h.state is VendorState.ROUTABLE and h.available()


def test_config_faults_eject_long() -> None:
    clock = Clock()
    h = health(clock)
    h.record(Outcome.IP_REJECTED)
    assert h.state is VendorState.EJECTED and h.reason == "ip_rejected"
    assert h.seconds_left() == 100.0


def test_a_refused_request_is_a_config_fault_counted_from_zero() -> None:
    clock = Clock()
    h = health(clock)
    assert h.ejections_by_reason["refused"] == 0
    h.record(Outcome.REFUSED)
    assert h.state is VendorState.EJECTED and h.reason == "refused"
    assert h.seconds_left() == 100.0
    assert h.ejections_by_reason["refused"] == 1


def test_refusals_that_say_nothing_about_the_vendor() -> None:
    h = health(Clock())
    for outcome in (Outcome.RECIPIENT_INVALID, Outcome.CONTENT_REJECTED, Outcome.REQUEST_INVALID):
        h.record(outcome)
    assert h.state is VendorState.ROUTABLE and h.consecutive_failures == 0


def test_a_drained_vendor_without_a_balance_query_comes_back_through_its_probe() -> None:
    """sms10000 has no balance query: after its re-check time a probe is planned,
    and once it is accepted the vendor is routable with its balance unknown."""
    from routing.plan import VendorView, make_plan

    clock = [0.0]
    h = VendorHealth("sms10000", clock=lambda: clock[0])
    h.record(Outcome.BALANCE_EXHAUSTED)
    assert (h.state, h.balance_segments) == (VendorState.DRAINED, 0)

    def plan() -> list[str]:
        view = VendorView(
            "sms10000",
            0.04,
            500,
            h.state is VendorState.ROUTABLE or h.available(),
            h.state.value,
            h.reason,
            None,
            h.balance_segments,
        )
        return list(make_plan("hi", 1, [view], "cheapest").order)

    assert plan() == []
    clock[0] = h.policy.drain_recheck_s + 1
    assert plan() == ["sms10000"]  # the probe
    h.begin_attempt()
    h.record(Outcome.ACCEPTED)
    assert (h.state, h.balance_segments) == (VendorState.ROUTABLE, None)
    assert plan() == ["sms10000"]


def test_a_balance_counted_out_drains_the_vendor_until_a_check_shows_money() -> None:
    h = VendorHealth("esms100")
    h.record_balance(3)
    h.spend(2)
    assert h.state is VendorState.ROUTABLE
    h.spend(2)
    assert (h.state, h.reason, h.balance_segments) == (VendorState.DRAINED, "balance_exhausted", 0)
    assert h.ejections_by_reason["balance_exhausted"] == 1
    h.record_balance(500)
    assert h.state is VendorState.ROUTABLE


class Told:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []

    def changed(self, vendor: str, part: Part) -> None:
        self.changes.append((vendor, part.value))


def test_it_tells_its_listener_of_changes_of_state_only() -> None:
    clock = Clock()
    h = health(clock)
    told = Told()
    h.listener = told
    h.record(Outcome.ACCEPTED, 0.1)
    h.record(Outcome.VENDOR_BUSY)
    h.record(Outcome.UNREACHABLE)
    assert told.changes == []  # failures below the threshold are this daemon's own
    h.record(Outcome.AMBIGUOUS)
    assert told.changes == [("v", "learned")]
    assert h.learned() == Learned("ejected", "ambiguous", 10.0, None, 1)
    clock.now += 10
    h.begin_attempt()
    h.record(Outcome.ACCEPTED)  # the probe found it healthy: the others may send
    h.hold()
    h.release()
    assert told.changes == [("v", "learned")] * 2 + [("v", "hold"), ("v", "hold"), ("v", "learned")]


def test_what_another_daemon_saw_is_taken_without_telling_anyone() -> None:
    clock = Clock()
    h = health(clock)
    told = Told()
    h.listener = told
    seen = Seen("other", 1_700_000_000_000)
    h.observe_learned(Learned("drained", "balance_exhausted", 60.0, 0, 0), seen)
    assert (h.state, h.reason, h.balance_segments) == (VendorState.DRAINED, "balance_exhausted", 0)
    assert not h.available() and h.seconds_left() == 60.0
    assert h.learned_seen == seen
    h.observe_hold(True, seen)
    assert h.held and h.reason == "operator"
    h.observe_learned(Learned("routable", None, 0.0, None, 0), seen)
    assert h.held  # the operator's word stands over anything learnt
    h.observe_hold(False, seen)
    assert h.state is VendorState.ROUTABLE and h.available()
    assert told.changes == []
    assert h.ejections_by_reason["operator"] == 0  # counted where the operator acted
