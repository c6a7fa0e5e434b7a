"""Which network a mainland mobile number belongs to, by its number range.

Ranges as allocated by MIIT (virtual operators' 170/171/162/165/167 ranges
follow the host network of their main blocks).  Number portability means
this is the *original* carrier, which is what vendors' channels go by too.
"""

from __future__ import annotations

import enum


class Carrier(enum.Enum):
    MOBILE = "mobile"
    UNICOM = "unicom"
    TELECOM = "telecom"
    BROADNET = "broadnet"
    UNKNOWN = "unknown"


_RANGES: dict[Carrier, tuple[str, ...]] = {
    Carrier.MOBILE: (
        "1340",
        "1341",
        "1342",
        "1343",
        "1344",
        "1345",
        "1346",
        "1347",
        "1348",
        "135",
        "136",
        "137",
        "138",
        "139",
        "147",
        "148",
        "150",
        "151",
        "152",
        "157",
        "158",
        "159",
        "165",
        "1703",
        "1705",
        "1706",
        "172",
        "178",
        "182",
        "183",
        "184",
        "187",
        "188",
        "195",
        "197",
        "198",
    ),
    Carrier.UNICOM: (
        "130",
        "131",
        "132",
        "145",
        "146",
        "155",
        "156",
        "166",
        "167",
        "1704",
        "1707",
        "1708",
        "1709",
        "171",
        "175",
        "176",
        "185",
        "186",
        "196",
    ),
    Carrier.TELECOM: (
        "133",
        "1349",
        "149",
        "153",
        "162",
        "1700",
        "1701",
        "1702",
        "173",
        "174",
        "177",
        "180",
        "181",
        "189",
        "190",
        "191",
        "193",
        "199",
    ),
    Carrier.BROADNET: ("192",),
}

# Longest prefix first, so 1349 (Telecom) wins over 134x (Mobile).
_BY_PREFIX: tuple[tuple[str, Carrier], ...] = tuple(
    sorted(
        ((p, c) for c, prefixes in _RANGES.items() for p in prefixes),
        key=lambda pc: -len(pc[0]),
    )
)


def carrier_of(phone: str) -> Carrier:
    for prefix, carrier in _BY_PREFIX:
        if phone.startswith(prefix):
            return carrier
    return Carrier.UNKNOWN
