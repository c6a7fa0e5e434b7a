"""The esms100 codes a request's fields allow, from what the fields mean.

Only what ``esms100.txt`` and the documented rules (``proxy/legacy.py``,
``adapters/esms100/wire.py``) say, and no order between two faults the
documents do not order: a request with two faults may get either code.  A
field the case is unsure of leaves the endpoint's whole table.

For ``/qamount/``, ``/qreport/`` and ``/mo/`` the code ``0`` stands for
their success answer (a balance, a report list, a reply list).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tests.fuzz.case import Account, TargetLimits
from tests.fuzz.values import MISSING, UNREADABLE, UNSURE

# Each endpoint's codes (proxy/legacy.py's table); 0 is its success answer.
TABLE: dict[str, frozenset[int]] = {
    "mt": frozenset({0, -1, -2, -3, -4, -5, -7, -8, -9, -10, -11, -15, -16, -17}),
    "qamount": frozenset({0, -1, -2, -3, -8, -9, -15}),
    "qreport": frozenset({0, -1, -2, -3, -8, -9, -15}),
    "mo": frozenset({0, -1, -2, -3, -8, -9, -15}),
    # esms100 answers only 0 or -1 here, a request beyond max_body_bytes too.
    "ent": frozenset({0, -1}),
}
# A send that reached the vendors may end in any of these.
SENT = frozenset({0, -10, -11, -15, -17})
# Any login may meet a lock-out (-9) and, logged in, a busy daemon (-15).
LOGGED_IN = frozenset({-9, -15})


def value(meanings: Mapping[str, str], name: str) -> str | None:
    """The stripped value the daemon reads, None when missing, empty or unreadable."""
    meaning = meanings.get(name, MISSING)
    if meaning in (MISSING, UNREADABLE):
        return None
    return meaning.strip() or None


def expected_codes(
    endpoint: str,
    meanings: Mapping[str, str],
    account: Account,
    limits: TargetLimits,
    *,
    oversize: bool,
    unsure: bool,
) -> frozenset[int] | None:
    """The codes the answer may carry; None: any of the endpoint's table."""
    if unsure:
        return None
    if oversize:
        return frozenset({-1 if endpoint == "ent" else -8})
    if endpoint == "ent":
        return _ent(meanings, account)
    if UNSURE in (meanings.get("cpid"), meanings.get("cppwd")):
        return None
    cpid, cppwd = value(meanings, "cpid"), value(meanings, "cppwd")
    faults = set()
    if cpid is None:
        faults.add(-2)
    if cppwd is None:
        faults.add(-3)
    if cppwd is not None and cppwd != account.cppwd and cppwd.upper() == account.cppwd:
        return None  # a lower-case digest: esms100 says upper-case, the daemon may forgive
    if (cpid is not None and cpid != account.cpid) or (
        cppwd is not None and cppwd != account.cppwd
    ):
        faults.add(-1)
    if faults:
        # A lock-out is looked at only with both fields given.
        return frozenset(faults | ({-9} if cpid and cppwd else set()))
    if endpoint != "mt":
        return frozenset({0}) | LOGGED_IN
    send = _mt(meanings, limits)
    return None if send is None else send | LOGGED_IN


def _mt(meanings: Mapping[str, str], limits: TargetLimits) -> frozenset[int] | None:
    if UNSURE in (meanings.get("msgtext"), meanings.get("phone")):
        return None
    text, phone = value(meanings, "msgtext"), value(meanings, "phone")
    faults = set()
    if text is None:
        faults.add(-4)
    elif len(text) > limits.max_text_chars:
        faults.add(-7)
    if phone is None:
        faults.add(-5)
    else:
        numbers = _numbers(phone)
        if numbers is None:
            return None
        given, valid = numbers
        if given > limits.max_numbers:
            faults.add(-8)
        elif valid == 0:
            faults.add(-16)
    return frozenset(faults) if faults else SENT


_SEPARATORS = re.compile(r"[,，;；\s]+")
_FULL_WIDTH = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "＋": "+"})


def _numbers(phone: str) -> tuple[int, int] | None:
    """(entries, valid mainland mobiles) as README's rules read a phone list; None: unsure.

    README: spaces, trailing or full-width commas, full-width digits,
    duplicates and +86/86/0086 prefixes are normalised; any other
    non-ASCII digit makes a number invalid.
    """
    entries = [e for e in _SEPARATORS.split(phone) if e]
    valid = 0
    for entry in entries:
        number = entry.translate(_FULL_WIDTH).replace("-", "")
        if any(c in number for c in "()（）"):
            return None  # brackets: README does not say
        for prefix in ("+86", "0086", "86"):
            if number.startswith(prefix) and len(number) == 11 + len(prefix):
                number = number[len(prefix) :]
                break
        if (
            len(number) == 11
            and number.isascii()
            and number.isdigit()
            and number[0] == "1"
            and number[1] in "3456789"
        ):
            valid += 1
    return len(entries), valid


def _ent(meanings: Mapping[str, str], account: Account) -> frozenset[int]:
    if UNSURE in (meanings.get("cpid"), meanings.get("oldpwd"), meanings.get("newpwd")):
        return TABLE["ent"]
    cpid, oldpwd = value(meanings, "cpid"), value(meanings, "oldpwd")
    if cpid != account.cpid or oldpwd is None or oldpwd.upper() != account.cppwd:
        return frozenset({-1})
    if oldpwd != account.cppwd:
        return frozenset({0, -1})  # lower-case
    newpwd = meanings.get("newpwd", MISSING)
    if newpwd == account.password:
        return frozenset({0, -1})  # the same again: taken, or refused by a policy
    return frozenset({-1})  # newpwd_values sends no other it could take
