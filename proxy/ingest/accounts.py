"""Vendor accounts: what reports and replies are polled, pushed and matched by.

Two ``[[vendors]]`` entries may be one account at the vendor (the same
credentials at two prices, or under two rules).  The vendor hands each
report out once per account, so such entries share one poller (two would
poll faster than the vendor allows and split its reports between them), and
a report from the account may belong to a send made under either name.

An account is identified by kind, base URL and the fields that name the
account at the vendor (:data:`IDENTITY`); passwords do not count, so a
second entry with a stale password is still the same account.  Its inbox
name is the first vendor name configured for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from config.vendor import VendorSettings

# The settings that name the account at each vendor.  A kind missing here
# falls back to every non-secret setting of its own (see _identity_fields).
IDENTITY: dict[str, tuple[str, ...]] = {
    "esms100": ("cpid",),
    "smscn": ("uid",),
    "c123": ("ac",),
    "chuanglan": ("account",),
    "sms10000": ("epr_id", "user_id"),
}

_SHARED = frozenset(VendorSettings.model_fields)


@dataclass(frozen=True, slots=True)
class Account:
    name: str  # the inbox's name for it: its first vendor's name
    kind: str
    vendors: tuple[str, ...]  # every configured vendor name that is this account
    enabled: tuple[str, ...]  # those of them that are enabled


def kind_of(settings: VendorSettings) -> str:
    return str(getattr(settings, "kind", type(settings).__name__))


def _identity_fields(settings: VendorSettings) -> tuple[str, ...]:
    known = IDENTITY.get(kind_of(settings))
    if known is not None:
        return known
    return tuple(
        sorted(
            name
            for name in type(settings).model_fields
            if name not in _SHARED
            and name != "kind"
            and not isinstance(getattr(settings, name), SecretStr)
        )
    )


def identity(settings: VendorSettings) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    fields = tuple((f, str(getattr(settings, f, ""))) for f in _identity_fields(settings))
    return kind_of(settings), settings.base.lower(), fields


class AccountBook:
    def __init__(self, vendors: Sequence[VendorSettings]) -> None:
        groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[VendorSettings]] = {}
        for vs in vendors:
            groups.setdefault(identity(vs), []).append(vs)
        self.accounts = [
            Account(
                members[0].name,
                kind_of(members[0]),
                tuple(m.name for m in members),
                tuple(m.name for m in members if m.enabled),
            )
            for members in groups.values()
        ]
        self._by_vendor = {name: a for a in self.accounts for name in a.vendors}
        self._by_name = {a.name: a for a in self.accounts}

    def __repr__(self) -> str:
        return f"<AccountBook {[list(a.vendors) for a in self.accounts]}>"

    def of_vendor(self, vendor: str) -> Account | None:
        return self._by_vendor.get(vendor)

    def named(self, account: str) -> Account | None:
        """The account an inbox row names; None when the config no longer has it."""
        return self._by_name.get(account)
