"""What the router has learnt about each vendor, from outcomes and balance checks.

The models are Envoy's outlier detection and Linkerd's failure accrual:
consecutive failures eject a vendor for a time that grows with each
ejection (with jitter); when it expires a single probe is let through, and
its outcome decides -- one probe for all the daemons sharing a store, whose
:class:`~routing.knowledge.ProbeTurns` say which daemon sends it.  A vendor
out of money is *drained* until a balance check shows money again.  A
vendor that rejects our credentials or IP, or refuses the request itself
(a wrong URL, a certificate we do not trust), is ejected long: that is a
configuration fault and will not heal by itself quickly.

Daemons sharing a store share what they learn (:mod:`routing.knowledge`):
each change of state and each balance figure goes to the health's
``listener``, and what another daemon saw comes in through
:meth:`VendorHealth.observe_learned`, :meth:`VendorHealth.observe_hold` and
:meth:`VendorHealth.observe_balance`, which tell no listener.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.outcome import Outcome, VendorEffect, decide
from routing.knowledge import HealthListener, Learned, Part, ProbeTurns, Seen

EJECTION_REASONS = (
    Outcome.BALANCE_EXHAUSTED.value,
    Outcome.IP_REJECTED.value,
    Outcome.AUTH_FAILED.value,
    Outcome.REFUSED.value,
    Outcome.VENDOR_BUSY.value,
    Outcome.UNREACHABLE.value,
    Outcome.AMBIGUOUS.value,
    "operator",
)


class VendorState(enum.Enum):
    ROUTABLE = "routable"
    BACKED_OFF = "backed_off"
    DRAINED = "drained"
    EJECTED = "ejected"


@dataclass(frozen=True)
class HealthPolicy:
    failures_to_eject: int = 5
    base_ejection_s: float = 10.0
    max_ejection_s: float = 300.0
    config_ejection_s: float = 300.0  # first ejection for a configuration fault
    max_config_ejection_s: float = 3600.0
    back_off_s: float = 2.0
    drain_recheck_s: float = 60.0  # a drained vendor without balance query is retried after this
    jitter: float = 0.2


class VendorHealth:
    def __init__(
        self,
        name: str,
        policy: HealthPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.policy = policy or HealthPolicy()
        self._clock = clock
        self._rng = rng
        self.consecutive_failures = 0
        self.ejections = 0
        self.reason: str | None = None  # why it is not routable, for operators
        self._state = VendorState.ROUTABLE
        self._until = 0.0
        self._probing = False
        self.latency_ewma_s: float | None = None
        self.balance_segments: int | None = None
        self.held = False  # drained by an operator: only an operator enables it
        # Zero from the start, so a metric for each reason exists before the first.
        self.ejections_by_reason: dict[str, int] = dict.fromkeys(EJECTION_REASONS, 0)
        self.listener: HealthListener | None = None  # told of each change, to share it
        self.learned_seen: Seen | None = None  # which daemon saw the shared state, when
        self.hold_seen: Seen | None = None  # which daemon's operator drained or enabled it
        self.balance_seen: Seen | None = None  # which daemon checked the balance, when
        self.probe_turns: ProbeTurns | None = None  # None: this daemon probes alone

    def __repr__(self) -> str:
        left = max(0.0, self._until - self._clock())
        return (
            f"<VendorHealth {self.name} {self.state.value} reason={self.reason} "
            f"failures={self.consecutive_failures} ejections={self.ejections} "
            f"left={left:.1f}s balance={self.balance_segments}>"
        )

    @property
    def state(self) -> VendorState:
        if self._state is VendorState.BACKED_OFF and self._clock() >= self._until:
            self._state, self.reason = VendorState.ROUTABLE, None
        return self._state

    def seconds_left(self) -> float:
        return (
            max(0.0, self._until - self._clock())
            if self._state is not VendorState.ROUTABLE
            else 0.0
        )

    def hold(self) -> None:
        """An operator drains the vendor until :meth:`release`."""
        self._hold()
        self.ejections_by_reason["operator"] += 1
        self._tell(Part.HOLD)

    def release(self) -> None:
        """An operator makes the vendor routable again, whatever it learnt."""
        self._release()
        self._tell(Part.HOLD)
        self._tell(Part.LEARNED)  # forgotten on every daemon, not only here

    def learned(self) -> Learned:
        """What this daemon learnt, to share with the others."""
        state = self.state
        left = self.seconds_left() if state is not VendorState.ROUTABLE else 0.0
        return Learned(state.value, self.reason, left, self.balance_segments, self.ejections)

    def observe_learned(self, learned: Learned, seen: Seen) -> None:
        """Another daemon learnt this: take it as if this daemon had."""
        self.learned_seen = seen
        self.ejections = max(self.ejections, learned.ejections)
        if self.held:
            return  # the operator's word stands over anything learnt
        state = VendorState(learned.state)
        if state is VendorState.ROUTABLE:
            self.consecutive_failures = 0
            self._state, self.reason, self._until = VendorState.ROUTABLE, None, 0.0
            if learned.balance_segments is not None or self.balance_segments == 0:
                self.balance_segments = learned.balance_segments
        else:
            self._state, self.reason = state, learned.reason
            self._until = self._clock() + max(0.0, learned.left_s)
            if learned.balance_segments is not None:
                self.balance_segments = learned.balance_segments

    def observe_balance(self, segments: int, seen: Seen) -> None:
        """Another daemon checked the vendor's balance: as if this one had."""
        self.balance_seen = seen
        self._balance(segments)

    def observe_hold(self, held: bool, seen: Seen) -> None:
        """An operator drained or enabled the vendor through another daemon."""
        self.hold_seen = seen
        if held and not self.held:
            self._hold()
        elif not held and self.held:
            self._release()

    def _hold(self) -> None:
        self.held = True
        self._state, self.reason, self._until = VendorState.DRAINED, "operator", float("inf")

    def _release(self) -> None:
        self.held = False
        self._state, self.reason, self._until = VendorState.ROUTABLE, None, 0.0
        self.consecutive_failures = 0
        self._probing = False

    def _tell(self, part: Part) -> None:
        if self.listener is not None:
            self.listener.changed(self.name, part)

    def available(self) -> bool:
        """May the router send to this vendor now?  Lets one probe through an expired ejection."""
        if self.state is VendorState.ROUTABLE:
            return True
        return self._clock() >= self._until and not self._probing

    def probe_due(self) -> bool:
        """Would an attempt now be a probe (the vendor let through after its time out)?"""
        return self.state is not VendorState.ROUTABLE

    async def take_probe_turn(self, ttl_s: float) -> bool:
        """May this daemon's probe go?  Alone, yes.  Sharing a store, when it got the
        turn; if not, the vendor stays out here for ``ttl_s``, or until the prober's
        outcome comes (:meth:`observe_learned`)."""
        turns = self.probe_turns
        if turns is None or await turns.take_probe_turn(self.name, ttl_s):
            return True
        if self.state is VendorState.ROUTABLE:
            return True  # the prober's outcome came meanwhile: recovered
        self._until = max(self._until, self._clock() + ttl_s)
        return False

    def begin_attempt(self) -> None:
        if self._state is not VendorState.ROUTABLE:
            self._probing = True

    def record(self, outcome: Outcome, latency_s: float | None = None) -> None:
        self._probing = False
        if self.held:
            return
        if latency_s is not None:
            prev = self.latency_ewma_s
            self.latency_ewma_s = latency_s if prev is None else 0.8 * prev + 0.2 * latency_s
        effect = decide(outcome).effect
        p = self.policy
        if outcome is Outcome.ACCEPTED:
            self.consecutive_failures = 0
            if self._state is VendorState.DRAINED and self.balance_segments == 0:
                # A drained vendor's probe went through: it has money again,
                # how much its next balance check (if it has one) will tell.
                self.balance_segments = None
            recovered = self.state is not VendorState.ROUTABLE
            self._state, self.reason = VendorState.ROUTABLE, None
            if recovered:  # a probe found it healthy: the others may send again
                self._tell(Part.LEARNED)
            # Decay, not reset: a vendor that flaps keeps its longer ejections.
            self.ejections = max(0, self.ejections - 1)
        elif effect is VendorEffect.DRAIN:
            self.balance_segments = 0
            self._set(VendorState.DRAINED, self.policy.drain_recheck_s, outcome.value)
        elif effect is VendorEffect.BACK_OFF:
            self._set(VendorState.BACKED_OFF, self.policy.back_off_s, outcome.value)
        elif effect is VendorEffect.EJECT_CONFIG:
            self.ejections += 1
            self._set(
                VendorState.EJECTED,
                self._ejection_s(p.config_ejection_s, p.max_config_ejection_s),
                outcome.value,
            )
        elif effect is VendorEffect.FAILURE:
            self.consecutive_failures += 1
            if (
                self.consecutive_failures >= self.policy.failures_to_eject
                or self._state is VendorState.EJECTED
            ):
                self.ejections += 1
                self._set(
                    VendorState.EJECTED,
                    self._ejection_s(p.base_ejection_s, p.max_ejection_s),
                    outcome.value,
                )

    def spend(self, segments: int) -> None:
        """A vendor accepted this many segments: its known balance buys that many fewer.

        Only an estimate (our segment count, not the vendor's bill) until the
        next balance check replaces it; never below 0, and an unknown balance
        stays unknown.
        """
        if self.balance_segments is not None:
            self.balance_segments = max(0, self.balance_segments - segments)
            if self.balance_segments == 0 and self._state is VendorState.ROUTABLE and not self.held:
                # Counted out: drained as if it had said so, so the dashboard and
                # alerts see what the plan does (it skips a vendor at 0), and its
                # re-check probe or next balance check brings it back.
                self._set(
                    VendorState.DRAINED,
                    self.policy.drain_recheck_s,
                    Outcome.BALANCE_EXHAUSTED.value,
                )

    def record_balance(self, segments: int | None) -> None:
        """This daemon checked the vendor's balance; the figure goes to the others too."""
        if self._balance(segments):
            self._tell(Part.LEARNED)
        if segments is not None:
            self._tell(Part.BALANCE)

    def _balance(self, segments: int | None) -> bool:
        """True when the money brings a drained vendor back."""
        self.balance_segments = segments
        if self._state is VendorState.DRAINED and segments and not self.held:
            self._state, self.reason, self._until = VendorState.ROUTABLE, None, 0.0
            return True
        return False

    def _ejection_s(self, base: float, cap: float) -> float:
        grown = min(cap, base * 2.0 ** max(0, self.ejections - 1))
        return grown * (1 + self.policy.jitter * (2 * self._rng() - 1))

    def _set(self, state: VendorState, seconds: float, reason: str) -> None:
        if state is not VendorState.BACKED_OFF:
            self.ejections_by_reason[reason] = self.ejections_by_reason.get(reason, 0) + 1
        self._state, self.reason = state, reason
        self._until = self._clock() + seconds
        self._tell(Part.LEARNED)  # a new state, or a new "until" for the same
