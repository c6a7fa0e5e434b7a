"""The CONNECT handshake's bytes: what we send a proxy, and how its answer is read."""

from __future__ import annotations

import pytest

from adapters.http.tunnel import MAX_HEAD_BYTES, ConnectAnswer, TunnelError, connect_request


def test_connect_request_without_credentials() -> None:
    assert connect_request("api.vendor.example", 443, None) == (
        b"CONNECT api.vendor.example:443 HTTP/1.1\r\n"
        b"Host: api.vendor.example:443\r\n"
        b"User-Agent: smsproxy\r\n"
        b"\r\n"
    )


def test_connect_request_with_credentials_and_a_v6_vendor() -> None:
    assert connect_request("2001:db8::1", 8443, b"Basic dXNlcjpwYXNz") == (
        b"CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n"
        b"Host: [2001:db8::1]:8443\r\n"
        b"Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
        b"User-Agent: smsproxy\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize("host", ["a b", "a\r\nX: y", "例子.cn"])
def test_a_target_that_is_not_one_word_of_ascii_is_never_written(host: str) -> None:
    with pytest.raises(ValueError, match="one word of ASCII"):
        connect_request(host, 443, None)


def test_an_answer_in_pieces_is_read_to_the_end_of_its_head() -> None:
    answer = ConnectAnswer()
    wire = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n"
    for byte in wire[:-1]:
        assert answer.feed(bytes([byte])) is None
    assert answer.feed(wire[-1:]) == (200, b"")


def test_tinyproxys_answers() -> None:
    # What Debian's tinyproxy 1.11 sends: HTTP/1.0, and 401 to a CONNECT with bad credentials.
    assert ConnectAnswer().feed(b"HTTP/1.0 200 Connection established\r\n\r\n") == (200, b"")
    refusal = (
        b"HTTP/1.0 401 Unauthorized\r\nServer: tinyproxy/1.11.1\r\nContent-Type: text/html\r\n"
        b"Connection: close\r\n\r\n<html>...</html>"
    )
    assert ConnectAnswer().feed(refusal) == (401, b"<html>...</html>")


def test_interim_answers_are_skipped_and_bytes_after_the_head_returned() -> None:
    wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Proxy Authentication Required\r\n\r\nbody"
    assert ConnectAnswer().feed(wire) == (407, b"body")


def test_bare_line_feeds_and_a_missing_reason_phrase() -> None:
    assert ConnectAnswer().feed(b"HTTP/1.1 502\nVia: p\n\n") == (502, b"")


@pytest.mark.parametrize(
    "wire",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 200OK\r\n\r\n",
        b"\x16\x03\x01\x02\x00\r\n\r\n",
    ],
)
def test_an_answer_that_is_not_http_1_is_refused(wire: bytes) -> None:
    with pytest.raises(TunnelError, match="not an HTTP/1 status line"):
        ConnectAnswer().feed(wire)


def test_an_endless_head_is_refused() -> None:
    answer = ConnectAnswer()
    assert answer.feed(b"HTTP/1.1 200 OK\r\n") is None
    with pytest.raises(TunnelError, match="over"):
        answer.feed(b"X: " + b"y" * MAX_HEAD_BYTES)
