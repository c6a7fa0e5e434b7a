"""Vendor states in Redis: a hash a vendor, and an announcement on each write.

=====================================  ===========================================
``vendor:<name>``                      hash: the learned part (``state``,
                                       ``reason``, ``until_ms``, ``balance``,
                                       ``ejections``, version ``lv``, by ``l_by``
                                       at ``l_at``) and the hold (``held``,
                                       version ``hv``, by ``h_by`` at ``h_at``)
                                       and the balance (``bal``, version
                                       ``bv``, by ``b_by`` at ``b_at``)
``vendor-seen:<name>``                 list: the last writes, newest first (JSON)
``seq`` field ``vendor``               the versions' counter
channel ``vendors``                    each write's whole record (JSON)
=====================================  ===========================================

No key expires: an operator's drain holds until an operator enables the
vendor, across restarts of every daemon; an expired "until" means what it
means in one daemon's memory (one probe is let through).  Times are the
server's (``TIME``), so daemons' clocks need not agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from redis.exceptions import RedisError

from proxy.store.redis.keyspace import Keyspace
from proxy.store.vendor_states import SharedBalance, SharedHold, SharedLearned, VendorRecord
from routing.knowledge import Learned, Seen

HISTORY = 20  # writes kept a vendor for the admin API
CLOSE_S = 2.0  # the most a follower's clean-up waits for its connection to close

SHARE = """
-- KEYS: the hash, the history, seq.  ARGV: channel, vendor, daemon, then the
-- learned part ('1' state reason left_ms balance ejections, or '0'), then the
-- hold ('1' held, or '0'), then the history's last index, then the balance ('1'
-- segments, or '0').  Announces and returns the whole record.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nows = string.format('%.0f', now)
local h, daemon = KEYS[1], ARGV[3]
if ARGV[4] == '1' then
  local v = redis.call('HINCRBY', KEYS[3], 'vendor', 1)
  local untils = string.format('%.0f', now + tonumber(ARGV[7]))
  redis.call('HSET', h, 'state', ARGV[5], 'reason', ARGV[6], 'until_ms', untils,
    'balance', ARGV[8], 'ejections', ARGV[9], 'lv', v, 'l_by', daemon, 'l_at', nows)
  redis.call('LPUSH', KEYS[2], cjson.encode({daemon = daemon, at_ms = nows,
    state = ARGV[5], reason = ARGV[6], seconds_left = ARGV[7] / 1000}))
end
if ARGV[10] == '1' then
  local v = redis.call('HINCRBY', KEYS[3], 'vendor', 1)
  redis.call('HSET', h, 'held', ARGV[11], 'hv', v, 'h_by', daemon, 'h_at', nows)
  local action = 'enable'
  if ARGV[11] == '1' then action = 'drain' end
  redis.call('LPUSH', KEYS[2], cjson.encode({daemon = daemon, at_ms = nows, operator = action}))
end
if ARGV[13] == '1' then
  local v = redis.call('HINCRBY', KEYS[3], 'vendor', 1)
  redis.call('HSET', h, 'bal', ARGV[14], 'bv', v, 'b_by', daemon, 'b_at', nows)
end
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[12]))
local msg = cjson.encode({vendor = ARGV[2], now_ms = nows, fields = redis.call('HGETALL', h)})
redis.call('PUBLISH', ARGV[1], msg)
return msg
"""

READ = """
-- KEYS: the vendors' hashes; ARGV: their names.  The records that exist, and
-- the server's time to measure their "until" against.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HGETALL', key)
  if #fields > 0 then
    out[#out + 1] = cjson.encode({vendor = ARGV[i], now_ms = string.format('%.0f', now),
      fields = fields})
  end
end
return out
"""


class RedisVendorStates:
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._channel = keys.key("vendors")
        self._share = keys.script(SHARE)
        # A read: a daemon starting while replicas catch up after a failover
        # must not fail on it (it did, with ReplicasBehind and a traceback).
        self._read = keys.script(READ, backs_answers=False)

    def __repr__(self) -> str:
        return f"<RedisVendorStates prefix={self._keys.prefix!r}>"

    async def share(
        self,
        vendor: str,
        daemon: str,
        learned: Learned | None,
        held: bool | None,
        balance: int | None = None,
    ) -> VendorRecord:
        k = self._keys
        args = [self._channel, vendor, daemon]
        if learned is None:
            args.append("0")
            args += [""] * 5
        else:
            left_ms = learned.left_s * 1000 if math.isfinite(learned.left_s) else 0
            known = learned.balance_segments
            args += [
                "1",
                learned.state,
                learned.reason or "",
                str(max(0, int(left_ms))),
                "" if known is None else str(known),
                str(learned.ejections),
            ]
        args += ["0", ""] if held is None else ["1", "1" if held else "0"]
        args.append(str(HISTORY - 1))
        args += ["0", ""] if balance is None else ["1", str(balance)]
        keys = [k.key("vendor:", vendor), k.key("vendor-seen:", vendor), k.key("seq")]
        return parse_record(str(await self._share(keys=keys, args=args)))

    async def read(self, vendors: Sequence[str]) -> list[VendorRecord]:
        if not vendors:
            return []
        keys = [self._keys.key("vendor:", v) for v in vendors]
        return [parse_record(str(m)) for m in await self._read(keys=keys, args=list(vendors))]

    async def follow(self) -> AsyncGenerator[VendorRecord | None, None]:
        pubsub = self._keys.client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            yield None  # subscribed: what was written before this, read now
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "message":
                    yield parse_record(str(message["data"]))
        finally:
            # Bounded: closing a connection cut while it was read can wait for
            # an answer that never comes, and a follower being cancelled must end.
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(CLOSE_S):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def recent(self, vendor: str, count: int) -> list[dict[str, object]]:
        rows = await self._keys.client.lrange(self._keys.key("vendor-seen:", vendor), 0, count - 1)
        out = []
        for row in rows:
            event: dict[str, Any] = json.loads(row)
            event["at_ms"] = int(event["at_ms"])
            if event.get("reason") == "":
                event["reason"] = None
            out.append(event)
        return out


def parse_record(message: str) -> VendorRecord:
    """A record as the scripts encode it: the hash's fields and the server's time."""
    body = json.loads(message)
    flat = body["fields"]
    fields = dict(zip(flat[::2], flat[1::2], strict=True)) if isinstance(flat, list) else {}
    now_ms = int(body["now_ms"])
    learned = hold = None
    if "lv" in fields:
        balance = fields["balance"]
        learned = SharedLearned(
            Learned(
                fields["state"],
                fields["reason"] or None,
                max(0.0, (int(fields["until_ms"]) - now_ms) / 1000),
                int(balance) if balance else None,
                int(fields["ejections"]),
            ),
            int(fields["lv"]),
            Seen(fields["l_by"], int(fields["l_at"])),
        )
    if "hv" in fields:
        hold = SharedHold(
            fields["held"] == "1", int(fields["hv"]), Seen(fields["h_by"], int(fields["h_at"]))
        )
    checked = None
    if "bv" in fields:
        checked = SharedBalance(
            int(fields["bal"]), int(fields["bv"]), Seen(fields["b_by"], int(fields["b_at"]))
        )
    return VendorRecord(str(body["vendor"]), learned, hold, checked)
