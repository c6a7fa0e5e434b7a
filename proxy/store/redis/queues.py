"""Client queues in Redis.

=====================================  ===========================================
``queue:<kind>:<cpid>``                zset: a client's queued items, by id
``queue:<kind>.held:<cpid>``           zset: a client's items being handed out, by
                                       hold expiry
``queue:<kind>.items``                 hash: id -> the item, as JSON
``queue:<kind>.age``                   zset: item ids by their message's time
=====================================  ===========================================

``<kind>`` is ``reports`` or ``replies``.  Settlement queues items with the
same Lua (:data:`ENQUEUE_FUNCTION`), in the script that settles them.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

import structlog

from proxy.store.epoch import from_ms, now_ms, to_ms
from proxy.store.queues import (
    HANDED_OVER_MS,
    ClientQueues,
    HoldReceipt,
    QueuedReply,
    QueuedReport,
    QueueKind,
    hold_times,
)
from proxy.store.redis.connect import ReplicasBehind
from proxy.store.redis.keyspace import PRELUDE, PURGE_SLICE, Keyspace, purge_in_slices

log = structlog.get_logger("smsproxy.redis")

# A Lua function of the scripts that queue an item (after PRELUDE).
# payload: a JSON array built by Python, the client first (purge reads it).
ENQUEUE_FUNCTION = """
local function enqueue(kind, cpid, payload, at_ms)
  local id = redis.call('HINCRBY', p .. 'seq', 'queue.' .. kind, 1)
  redis.call('ZADD', p .. 'queue:' .. kind .. ':' .. cpid, id, id)
  redis.call('HSET', p .. 'queue:' .. kind .. '.items', id, payload)
  redis.call('ZADD', p .. 'queue:' .. kind .. '.age', at_ms, id)
end
"""

ENQUEUE = (
    PRELUDE
    + ENQUEUE_FUNCTION
    + """
-- ARGV[2] kind ('reports' or 'replies'), ARGV[3] cpid, ARGV[4] payload, ARGV[5] time (ms)
enqueue(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""
)

HOLD = """
-- KEYS: the client's queue, the client's held items, the items hash, the age
-- index; ARGV[1] limit, ARGV[2] now (ms), ARGV[3] hold (ms), ARGV[4] what a
-- hand-over adds to a hold's expiry.
-- Taken from the queue and held in one script: two daemons polling for one
-- client never hand out one item twice.  A hold that ran out (its daemon
-- died before settling it) goes back in line first, by id.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], id, id)
end
-- Handed over ten minutes and more ago and never settled (its daemon died
-- after the hand-over): its client has it, or it was lost with the daemon.
local handed = tonumber(ARGV[4])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], handed,
    handed + tonumber(ARGV[2]) - 600000)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
local until_ms = tonumber(ARGV[2]) + tonumber(ARGV[3])
for _, id in ipairs(ids) do
  out[#out + 1] = {id, redis.call('HGET', KEYS[3], id)}
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], until_ms, id)
end
return out
"""

SETTLE_HELD = """
-- KEYS: the client's queue, the client's held items, the items hash, the age
-- index; ARGV[1] '1' delivered (forget them) or '0' (back in line, by id);
-- ARGV[2] when the hold runs out, ARGV[3] what its hand-over made that,
-- ARGV[4..] ids.  Only ids this hold still has, handed over or not: one
-- that ran out and was held again has a later score.
for i = 4, #ARGV do
  local id = ARGV[i]
  local score = tonumber(redis.call('ZSCORE', KEYS[2], id))
  if score == tonumber(ARGV[2]) or score == tonumber(ARGV[3]) then
    redis.call('ZREM', KEYS[2], id)
    if ARGV[1] == '1' then
      redis.call('HDEL', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
    else
      redis.call('ZADD', KEYS[1], id, id)
    end
  end
end
return 0
"""

HAND_OVER = """
-- KEYS: the client's held items; ARGV[1] the hold's expiry, ARGV[2] the
-- hand-over's (never reached), ARGV[3..] ids.  The ids this hold still has
-- (a run again after a lost answer finds those the first handed over).
local out = {}
for i = 3, #ARGV do
  local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]))
  if score == tonumber(ARGV[1]) or score == tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
return out
"""

PURGE_QUEUE = (
    PRELUDE
    + """
-- ARGV[2] kind ('reports' or 'replies'), ARGV[3] before (ms, exclusive), ARGV[4] slice
local kind = ARGV[2]
local age, items = p .. 'queue:' .. kind .. '.age', p .. 'queue:' .. kind .. '.items'
local ids = redis.call('ZRANGEBYSCORE', age, '-inf', '(' .. ARGV[3], 'LIMIT', 0,
  tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local item = redis.call('HGET', items, id)
  if item then
    local cpid = cjson.decode(item)[1]
    redis.call('ZREM', p .. 'queue:' .. kind .. ':' .. cpid, id)
    redis.call('ZREM', p .. 'queue:' .. kind .. '.held:' .. cpid, id)
  end
  redis.call('HDEL', items, id)
  redis.call('ZREM', age, id)
end
return #ids
"""
)


class RedisQueues(ClientQueues):
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._redis = keys.client
        self._enqueue = keys.script(ENQUEUE)
        self._hold = keys.script(HOLD)
        self._settle_held = keys.script(SETTLE_HELD)
        self._hand_over = keys.script(HAND_OVER)
        self._purge = keys.script(PURGE_QUEUE)

    def __repr__(self) -> str:
        return f"<RedisQueues prefix={self._keys.prefix!r}>"

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None:
        payload, ms = report_item(cpid, report)
        await self._enqueue(args=[self._keys.prefix, "reports", cpid, payload, ms])

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None:
        payload, ms = reply_item(cpid, reply)
        await self._enqueue(args=[self._keys.prefix, "replies", cpid, payload, ms])

    async def hold_reports(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReport]]:
        receipt, items = await self._hold_items("reports", cpid, limit, hold_ms)
        return receipt, [
            QueuedReport(phone, int(status), from_ms(ms)) for _, phone, status, ms in items
        ]

    async def hold_replies(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReply]]:
        receipt, items = await self._hold_items("replies", cpid, limit, hold_ms)
        return receipt, [QueuedReply(phone, text, from_ms(ms)) for _, phone, text, ms in items]

    def _queue_keys(self, kind: QueueKind, cpid: str) -> list[str]:
        key = self._keys.key
        return [
            key("queue:", kind, ":", cpid),
            key("queue:", kind, ".held:", cpid),
            key("queue:", kind, ".items"),
            key("queue:", kind, ".age"),
        ]

    async def _hold_items(
        self, kind: QueueKind, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[list[Any]]]:
        now = now_ms()
        if limit <= 0:
            return HoldReceipt((), now), []
        args = [str(limit), str(now), str(hold_ms), str(HANDED_OVER_MS)]
        try:
            held = await self._hold(keys=self._queue_keys(kind, cpid), args=args)
        except ReplicasBehind as exc:
            # Held on the master, and the client told -15: back in line now,
            # not when the hold runs out (a minute later).
            keys = tuple(int(key) for key, item in exc.answer if item is not None)
            try:
                await self.settle_held(kind, cpid, HoldReceipt(keys, now + hold_ms), False)
            except ReplicasBehind:
                pass  # run on the master, where the next hold looks
            except Exception as undo:
                log.warning("hold_not_released", kind=kind, items=len(keys), error=repr(undo))
            raise
        pairs = [(int(key), json.loads(item)) for key, item in held if item is not None]
        return HoldReceipt(tuple(k for k, _ in pairs), now + hold_ms), [i for _, i in pairs]

    async def settle_held(
        self, kind: QueueKind, cpid: str, receipt: HoldReceipt, delivered: bool
    ) -> None:
        if receipt.keys:
            flag = "1" if delivered else "0"
            hold, handed = hold_times(receipt.until_ms)
            args = [flag, str(hold), str(handed), *(str(k) for k in receipt.keys)]
            await self._settle_held(keys=self._queue_keys(kind, cpid), args=args)

    async def hand_over(self, kind: QueueKind, cpid: str, receipt: HoldReceipt) -> HoldReceipt:
        if not receipt.keys:
            return receipt
        hold, until = hold_times(receipt.until_ms)
        args = [str(hold), str(until), *(str(k) for k in receipt.keys)]
        still = await self._hand_over(keys=self._queue_keys(kind, cpid)[1:2], args=args)
        return HoldReceipt(tuple(int(k) for k in still), until)

    async def release_dead_holds(self) -> int:
        # Shared by daemons: a hold may be a live one's answer being written.
        return 0

    async def queue_stats(self) -> dict[str, tuple[int, float]]:
        now = now_ms()
        async with self._redis.pipeline(transaction=True) as pipe:
            for kind in ("reports", "replies"):
                age = self._keys.key("queue:", kind, ".age")
                pipe.zcard(age)
                pipe.zrange(age, 0, 0, withscores=True)
            answers = await pipe.execute()
        stats: dict[str, tuple[int, float]] = {}
        for i, kind in enumerate(("reports", "replies")):
            count, oldest = answers[2 * i], answers[2 * i + 1]
            # Age counts from the message's own time, as a waiting client sees it.
            age_s = max(0.0, (now - float(oldest[0][1])) / 1000) if oldest else 0.0
            stats[kind] = (int(count), age_s)
        return stats

    async def purge(self, before_ms: int) -> int:
        before, size = str(before_ms), str(PURGE_SLICE)
        return await purge_in_slices(
            [
                (self._purge, [self._keys.prefix, "reports", before, size]),
                (self._purge, [self._keys.prefix, "replies", before, size]),
            ]
        )


def report_item(cpid: str, report: QueuedReport) -> tuple[str, str]:
    """A queued report as the queue keeps it, and its time (ms).

    What ``json.dumps`` of the list writes, put together here: one a matched
    report, it was a tenth of the matcher's CPU on Redis.
    """
    ms = str(to_ms(report.sent_at))
    phone, status = _json_str(report.phone), int(report.status)
    return f'[{_json_str(cpid)}, {phone}, {status}, "{ms}"]', ms


def reply_item(cpid: str, reply: QueuedReply) -> tuple[str, str]:
    ms = str(to_ms(reply.received_at))
    return json.dumps([cpid, reply.phone, reply.text, ms]), ms
