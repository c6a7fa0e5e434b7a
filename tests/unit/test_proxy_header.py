"""The PROXY protocol codec against golden bytes (HAProxy's proxy-protocol.txt)."""

from __future__ import annotations

import pytest

from proxy.http.proxy_header import ProxyHeader, ProxyHeaderError, read_proxy_header

V2 = b"\r\n\r\n\x00\r\nQUIT\n"
# HAProxy's send-proxy-v2 for 192.0.2.10:51000 -> 10.0.0.5:8080, with one TLV behind.
V2_TCP4 = (
    V2
    + b"\x21\x11\x00\x11"
    + b"\xc0\x00\x02\x0a\x0a\x00\x00\x05\xc7\x38\x1f\x90"
    + b"\x04\x00\x02ab"
)
V2_TCP6 = (
    V2
    + b"\x21\x21\x00\x24"
    + bytes.fromhex("20010db8000000000000000000000007")
    + bytes.fromhex("20010db8000000000000000000000001")
    + b"\xc7\x38\x1f\x90"
)
V2_LOCAL = V2 + b"\x20\x00\x00\x00"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PROXY TCP4 192.0.2.10 10.0.0.5 51000 8080\r\nGET", ProxyHeader("192.0.2.10", 43)),
        (b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 8080\r\n", ProxyHeader("2001:db8::7", 47)),
        (b"PROXY UNKNOWN\r\nGET", ProxyHeader(None, 15)),
        (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", ProxyHeader(None, 35)),
        (V2_TCP4 + b"GET", ProxyHeader("192.0.2.10", 33)),
        (V2_TCP6, ProxyHeader("2001:db8::7", 52)),
        (V2_LOCAL + b"GET", ProxyHeader(None, 16)),
    ],
)
def test_a_header_names_the_client_and_its_length(data: bytes, expected: ProxyHeader) -> None:
    assert read_proxy_header(data) == expected


@pytest.mark.parametrize(
    "data",
    [b"", b"P", b"PROXY TCP4 192.0.2.10", V2[:5], V2, V2_TCP4[:20]],
)
def test_a_header_not_yet_whole_asks_for_more(data: bytes) -> None:
    assert read_proxy_header(data) is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 192.0.2.10 10.0.0.5 51000\r\n",
        b"PROXY TCP4 2001:db8::7 10.0.0.5 1 2\r\n",  # the family lies
        b"PROXY TCP4 192.0.2.10 10.0.0.5 1 99999\r\n",
        b"PROXY TCP4 " + b"1" * 120,  # no end within the longest line
        b"\r\n\r\nGET",
        V2 + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
        V2 + b"\x21\x11\xff\xff",  # longer than a balancer's header
        V2 + b"\x21\x11\x00\x04" + bytes(4),  # too short for its addresses
    ],
)
def test_what_is_not_a_header_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(data)
