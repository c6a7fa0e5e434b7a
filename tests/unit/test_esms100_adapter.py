"""The esms100 adapter's requests, byte for byte."""

from __future__ import annotations

from adapters.esms100.adapter import Esms100Adapter
from config.vendor_kinds import Esms100Settings
from core.send import Chunk

SETTINGS = Esms100Settings(
    kind="esms100",
    name="e",
    base_url="http://127.0.0.1:1",
    price_per_segment=0.05,  # type: ignore[arg-type]
    cpid="10000",
    password="123456",  # type: ignore[arg-type]
)


def test_a_short_send_is_a_get_like_the_documents_examples() -> None:
    prepared = Esms100Adapter(SETTINGS).build_send(Chunk(("13800138000",), "测试", 1), 0)
    assert prepared.request.method == "GET"
    assert prepared.request.path == "/mt/"
    assert prepared.request.query == (
        "cpid=10000&cppwd=E10ADC3949BA59ABBE56E057F20F883E&phone=13800138000"
        "&msgtext=%E6%B5%8B%E8%AF%95&encode=utf8"
    )
    assert prepared.request.body == b""


def test_a_long_send_is_a_post_form() -> None:
    phones = tuple(f"139{i:08d}" for i in range(1000))
    prepared = Esms100Adapter(SETTINGS).build_send(Chunk(phones, "hi", 1), 0)
    assert prepared.request.method == "POST"
    assert prepared.request.content_type == "application/x-www-form-urlencoded"
    assert prepared.request.body.startswith(
        b"cpid=10000&cppwd=E10ADC3949BA59ABBE56E057F20F883E&phone=13900000000%2C13900000001%2C"
    )
    assert prepared.request.body.endswith(b"&msgtext=hi&encode=utf8")
