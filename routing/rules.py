"""Which rule a recipient of a send falls under: first match wins.

Pure functions of the send's context and the configured rules.  Number
prefixes and carriers make the match per recipient, so one send can split
into groups that follow different rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from config.rules import ClassesSettings, MessageClass, RuleSettings, parse_hours
from routing.carriers import carrier_of


class SendContext(NamedTuple):  # one per send: a tuple costs a third of a frozen dataclass
    cpid: str
    message_class: MessageClass
    minute_of_day: int  # local time
    recipients: int


def classify(text: str, cpid: str, classes: ClassesSettings) -> MessageClass:
    return Classifier(classes)(text, cpid)


class Classifier:
    """:func:`classify` for one configuration, its keywords prepared once."""

    def __init__(self, classes: ClassesSettings) -> None:
        self._by_client = dict(classes.by_client)
        self._verification = _any_of(classes.verification)
        self._marketing = _any_of(classes.marketing)

    def __call__(self, text: str, cpid: str) -> MessageClass:
        fixed = self._by_client.get(cpid)
        if fixed is not None:
            return fixed
        lowered = text.lower()
        if self._verification is not None and self._verification.search(lowered):
            return "verification"
        if self._marketing is not None and self._marketing.search(lowered):
            return "marketing"
        return "notice"


def _any_of(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """One search for "any keyword in the lowered text", instead of one per keyword."""
    if not keywords:
        return None
    return re.compile("|".join(re.escape(k.lower()) for k in keywords))


def _in_hours(window: str, minute: int) -> bool:
    start, end = parse_hours(window)
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # wraps midnight


def matches_send(rule: RuleSettings, ctx: SendContext) -> bool:
    """The conditions that hold or fail for a whole send, whatever the number."""
    m = rule.match
    return (
        (m.clients is None or ctx.cpid in m.clients)
        and (m.classes is None or ctx.message_class in m.classes)
        and (m.min_recipients is None or ctx.recipients >= m.min_recipients)
        and (m.max_recipients is None or ctx.recipients <= m.max_recipients)
        and (m.hours is None or _in_hours(m.hours, ctx.minute_of_day))
    )


def matches_phone(rule: RuleSettings, phone: str) -> bool:
    m = rule.match
    return (m.prefixes is None or phone.startswith(tuple(m.prefixes))) and (
        m.carriers is None or carrier_of(phone).value in m.carriers
    )


def _by_number(rule: RuleSettings) -> bool:
    return rule.match.prefixes is not None or rule.match.carriers is not None


def matches(rule: RuleSettings, ctx: SendContext, phone: str) -> bool:
    return matches_send(rule, ctx) and matches_phone(rule, phone)


def assign(
    rules: Sequence[RuleSettings], ctx: SendContext, phones: Sequence[str]
) -> list[tuple[RuleSettings, list[str]]]:
    """Group the recipients by the first rule each matches, in rule order.

    Recipients no rule matches are left out: with the implicit catch-all
    (``Settings.effective_rules``) that happens only when no vendor is enabled.
    """
    # Send-wide conditions are decided once; the rules after the first one
    # that does not look at numbers can never be reached.
    eligible: list[RuleSettings] = []
    for rule in rules:
        if matches_send(rule, ctx):
            eligible.append(rule)
            if not _by_number(rule):
                break
    if not eligible:
        return []
    if not _by_number(eligible[0]):
        return [(eligible[0], list(phones))]
    groups: dict[str, tuple[RuleSettings, list[str]]] = {}
    for phone in phones:
        for rule in eligible:
            if matches_phone(rule, phone):
                groups.setdefault(rule.name, (rule, []))[1].append(phone)
                break
    order = {rule.name: i for i, rule in enumerate(eligible)}
    return sorted(groups.values(), key=lambda g: order[g[0].name])
