"""The stub vendors' books, read over their control paths: what they accepted, from whom."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from bench.components import Proc


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - our loopback stub
        return json.loads(resp.read())


def stub_stats(stub: Proc) -> dict[str, Any]:
    stats: dict[str, Any] = get_json(stub.url + "/_stub/stats")
    return stats


def stub_phones(stub: Proc) -> dict[str, Any]:
    phones: dict[str, Any] = get_json(stub.url + "/_stub/phones")
    return phones


def check_books(answered_ok: int, books: list[dict[str, Any]]) -> dict[str, int]:
    """Duplicates (a phone got the text twice, at one vendor or two) and sends lost.

    ``answered_ok`` counts distinct sends answered ``0``: each has its own
    phone number, so one phone in the books twice is one duplicated SMS.
    """
    seen: dict[str, int] = {}
    duplicated = 0
    for book in books:
        duplicated += sum(int(c) - 1 for c in book["repeated"].values())
        for phone in book["phones"]:
            seen[phone] = seen.get(phone, 0) + 1
    duplicated += sum(c - 1 for c in seen.values() if c > 1)
    return {
        "distinct_phones": len(seen),
        "duplicated": duplicated,
        "missing": max(0, answered_ok - len(seen)),
    }
