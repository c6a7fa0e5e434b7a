"""The PROXY protocol header a load balancer puts before a connection's bytes.

HAProxy (``send-proxy``, ``send-proxy-v2``) and nginx (``proxy_protocol on``)
open each connection to a backend with one header naming the client they
accepted it from, so the backend sees the client and not the balancer.
Version 1 is a text line, version 2 a binary block; both are specified in
HAProxy's ``proxy-protocol.txt``.  Sans-io: bytes in, the client's address
and the header's length out.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import NamedTuple

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included, by the specification
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16
V2_MAX_ADDRESSES = 1024  # TLVs ride behind the addresses; more is not a balancer's header


class ProxyHeaderError(ValueError):
    """Not a PROXY header: the connection is not from the balancer it claims to be."""


class ProxyHeader(NamedTuple):
    source: str | None  # None: the balancer's own connection (LOCAL, UNKNOWN): keep the peer
    length: int  # bytes the header took; the client's own bytes follow


def read_proxy_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``, or None while more bytes are needed."""
    if data[:1] == b"P":
        return _read_v1(data)
    if data[:1] == b"\r":
        return _read_v2(data)
    if not data:
        return None
    raise ProxyHeaderError("no PROXY header")


def _read_v1(data: bytes) -> ProxyHeader | None:
    if not data.startswith(V1_PREFIX):
        if V1_PREFIX.startswith(data):
            return None
        raise ProxyHeaderError("no PROXY header")
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 line too long")
        return None
    fields = data[:end].split(b" ")
    if len(fields) >= 2 and fields[1] == b"UNKNOWN":
        return ProxyHeader(None, end + 2)
    if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError("malformed PROXY v1 line")
    try:
        source = ip_address(fields[2].decode("ascii"))
        ip_address(fields[3].decode("ascii"))
        ports = [int(p) for p in fields[4:6]]
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProxyHeaderError("malformed PROXY v1 addresses") from exc
    wanted = IPv4Address if fields[1] == b"TCP4" else IPv6Address
    if not isinstance(source, wanted) or not all(0 <= p <= 65535 for p in ports):
        raise ProxyHeaderError("malformed PROXY v1 addresses")
    return ProxyHeader(str(source), end + 2)


def _read_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < len(V2_SIGNATURE):
        if V2_SIGNATURE.startswith(data):
            return None
        raise ProxyHeaderError("no PROXY header")
    if not data.startswith(V2_SIGNATURE):
        raise ProxyHeaderError("no PROXY header")
    if len(data) < V2_FIXED:
        return None
    version_command, family, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        raise ProxyHeaderError("unknown PROXY v2 version or command")
    if length > V2_MAX_ADDRESSES:
        raise ProxyHeaderError("PROXY v2 header too long")
    total = V2_FIXED + length
    if len(data) < total:
        return None
    if version_command & 0x0F == 0:  # LOCAL: the balancer's own health check
        return ProxyHeader(None, total)
    block = data[V2_FIXED:total]
    if family >> 4 == 1 and length >= 12:
        return ProxyHeader(str(IPv4Address(block[:4])), total)
    if family >> 4 == 2 and length >= 36:
        return ProxyHeader(str(IPv6Address(block[:16])), total)
    if family >> 4 in (0, 3):  # unspecified or a unix socket: no client address to take
        return ProxyHeader(None, total)
    raise ProxyHeaderError("malformed PROXY v2 addresses")
