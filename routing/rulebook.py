"""The configured rules, ready to apply: shared by the daemon and ``smsproxy route``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from config.rules import RuleSettings
from config.settings import Settings
from routing.router import RoutePolicy
from routing.rules import SendContext, assign, classify


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
    def __init__(self, settings: Settings) -> None:
        self.rules = settings.effective_rules()
        self.policies = {rule.name: policy_of(rule) for rule in self.rules}
        self.classes = settings.classes
        self.zone = ZoneInfo(settings.routing.timezone)

    def __repr__(self) -> str:
        return f"<RuleBook {[r.name for r in self.rules]}>"

    def context(self, cpid: str, text: str, recipients: int) -> SendContext:
        now = datetime.now(self.zone)
        return SendContext(
            cpid, classify(text, cpid, self.classes), now.hour * 60 + now.minute, recipients
        )

    def groups(
        self, ctx: SendContext, phones: Sequence[str]
    ) -> list[tuple[RoutePolicy, list[str]]]:
        return [
            (self.policies[rule.name], group) for rule, group in assign(self.rules, ctx, phones)
        ]
