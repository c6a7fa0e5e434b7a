"""``smsproxy route``: which vendor each recipient would go to, and why, sending nothing.

It builds the very router and rules the daemon builds from the same config
and asks them for their plan, so what it prints is what a freshly started
daemon does.  (A running daemon has learnt vendor state since: balances,
ejections.  The plan then differs only where that state says so.)
"""

from __future__ import annotations

from adapters.http.client import VendorHttp
from config.settings import Settings
from core.send import segments
from proxy.engine import build_router
from proxy.numbers import normalise
from proxy.vendors import vendor_clients
from routing.carriers import carrier_of
from routing.rulebook import RuleBook


async def explain(settings: Settings, cpid: str, phone: str, text: str) -> list[str]:
    recipients = normalise(phone)
    lines = [
        f"text: {len(text)} chars, {segments(text)} segment(s); "
        f"{len(recipients.valid)} valid recipient(s)"
        + (f", dropped as invalid: {', '.join(recipients.invalid)}" if recipients.invalid else "")
    ]
    async with VendorHttp() as http:
        router = build_router(settings, vendor_clients(settings.vendors, http))
        rulebook = RuleBook(settings)
        ctx = rulebook.context(cpid, text, len(recipients.valid))
        lines.append(
            f"client {cpid}, class {ctx.message_class}, local time "
            f"{ctx.minute_of_day // 60:02d}:{ctx.minute_of_day % 60:02d}"
        )
        groups = rulebook.groups(ctx, recipients.valid)
        for policy, group in groups:
            plan = router.plan(text, len(group), policy)
            lines.append("")
            lines.append(f"rule {policy.rule!r} ({policy.strategy}) for {len(group)} recipient(s):")
            for p in group:
                lines.append(f"  {p}  {carrier_of(p).value}")
            lines.append("  vendors, in the order they are tried:")
            lines += [f"    {line}" for line in plan.explain()]
            if policy.strategy == "weighted":
                lines.append("    (weighted: the first is drawn by weight for every send)")
            if not plan.order:
                lines.append("    no vendor can take it: the client would get -10 or -17")
        routed = {p for _, g in groups for p in g}
        for p in recipients.valid:
            if p not in routed:
                lines.append(f"{p}: no rule matches (no enabled vendor)")
    return lines
