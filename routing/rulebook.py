"""The configured rules, ready to apply: shared by the daemon and ``smsproxy route``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from config.rules import RuleSettings
from config.settings import Settings
from routing.router import RoutePolicy
from routing.rules import Classifier, SendContext, assign


def policy_of(rule: RuleSettings) -> RoutePolicy:
    return RoutePolicy(
        vendors=tuple(rule.vendors),
        strategy=rule.strategy,
        weights=dict(rule.weights),
        content_rejected_fails_over=rule.content_rejected == "fail_over",
        ambiguous_resends=rule.ambiguous == "at_least_once",
        rule=rule.name,
    )


class RuleBook:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.rules = settings.effective_rules()
        self.policies = {rule.name: policy_of(rule) for rule in self.rules}
        self.classes = settings.classes
        self.zone = ZoneInfo(settings.routing.timezone)
        self._classify = Classifier(settings.classes)
        self._clock = clock
        # The local minute of day holds for a whole minute: reading the zone's
        # clock for every send would cost more than the rest of the context.
        self._minute = 0
        self._minute_from = self._minute_until = 0.0

    def __repr__(self) -> str:
        return f"<RuleBook {[r.name for r in self.rules]}>"

    def minute_of_day(self) -> int:
        """The local time as minutes since midnight."""
        now = self._clock()
        if not self._minute_from <= now < self._minute_until:  # a new minute, or a clock step
            local = datetime.fromtimestamp(now, self.zone)
            self._minute = local.hour * 60 + local.minute
            # The minute ends 60 s after it began: zones change their offset
            # only on a minute's boundary, never inside one.
            self._minute_from = now - local.second - local.microsecond / 1e6
            self._minute_until = self._minute_from + 60.0
        return self._minute

    def context(self, cpid: str, text: str, recipients: int) -> SendContext:
        return SendContext(cpid, self._classify(text, cpid), self.minute_of_day(), recipients)

    def groups(
        self, ctx: SendContext, phones: Sequence[str]
    ) -> list[tuple[RoutePolicy, list[str]]]:
        return [
            (self.policies[rule.name], group) for rule, group in assign(self.rules, ctx, phones)
        ]
