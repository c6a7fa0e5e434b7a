from __future__ import annotations

import pytest

from proxy.numbers import normalise


@pytest.mark.parametrize(
    ("raw", "valid", "invalid", "given"),
    [
        ("13800138000,", ("13800138000",), (), 1),
        (" 13800138000 , 13900139000 ", ("13800138000", "13900139000"), (), 2),
        ("+8613800138000,8613800138000,008613800138000", ("13800138000",), (), 3),
        (
            "13800138000，13900139000；13700137000",
            ("13800138000", "13900139000", "13700137000"),
            (),
            3,
        ),
        ("138-0013-8000", ("13800138000",), (), 1),
        (
            "12800138000,1380013800,abc,02185418874",
            (),
            ("12800138000", "1380013800", "abc", "02185418874"),
            4,
        ),
        ("8612345", (), ("8612345",), 1),
        ("", (), (), 0),
    ],
)
def test_normalise(raw: str, valid: tuple[str, ...], invalid: tuple[str, ...], given: int) -> None:
    result = normalise(raw)
    assert result.valid == valid
    assert result.invalid == invalid
    assert result.given == given
