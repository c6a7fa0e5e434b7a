"""Settlement in Redis: a batch of inbox rows settled in one script.

The script moves each row out of the inbox's pending set, queues what
matched for its client (the keys of :mod:`.queues`), marks the record's
reported statuses and resolves it to accepted (:mod:`.sends`, its claim
with it), and keeps the inbox counts: all or nothing, as SQLite's
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from proxy.store.epoch import now_ms
from proxy.store.redis.claims import CLAIM_FUNCTIONS
from proxy.store.redis.keyspace import BULK_FUNCTION, PRELUDE, Keyspace
from proxy.store.redis.queues import ENQUEUE_FUNCTION, reply_item, report_item
from proxy.store.settlement import (
    ReplyDelivered,
    ReplySettlement,
    ReportMatched,
    ReportRetry,
    ReportSettlement,
    Settled,
)

SETTLE_REPORTS = (
    PRELUDE
    + CLAIM_FUNCTIONS
    + BULK_FUNCTION
    + """
-- ARGV[2]: [["m", inbox id, record key, cpid, payload, sent_ms]
--          | ["r", inbox id, next_try_ms] | ["u", inbox id], ...]
-- ARGV[3] now (ms)
local now = tonumber(ARGV[3])
-- The vendor reports on the record's message: it had it.
local function resolve(record)
  local key = p .. 'record:' .. record
  local outcome = redis.call('HGET', key, 'outcome')
  if outcome == 'in_flight' or outcome == 'ambiguous' then
    redis.call('HSET', key, 'outcome', 'accepted')
    redis.call('ZREM', p .. 'unresolved', record)
    settle_claim(key, 'a', now)
  end
end
local rows = cjson.decode(ARGV[2])
-- Queue ids for the matches, taken at once; a match that turns out a
-- duplicate leaves a gap, which is harmless: ids only order the queue.
local asked = 0
for _, s in ipairs(rows) do
  if s[1] == 'm' then asked = asked + 1 end
end
local next_id = 0
if asked > 0 then next_id = redis.call('HINCRBY', p .. 'seq', 'queue.reports', asked) - asked end
local queued, duplicates, retried, unmatched, skipped = 0, 0, 0, 0, 0
local due, settled = p .. 'inbox:reports.due', p .. 'inbox:reports.settled'
local done, settled_at, items, ages, queues = {}, {}, {}, {}, {}
for _, s in ipairs(rows) do
  local row = p .. 'inbox:reports:' .. s[2]
  local f = redis.call('HMGET', row, 'state', 'status', 'recv')
  local member = pad(s[2])
  -- A row no longer pending was settled by another matcher: settling twice
  -- must queue once.
  if f[1] ~= 'pending' then
    skipped = skipped + 1
  elseif s[1] == 'r' then
    redis.call('HINCRBY', row, 'tries', 1)
    redis.call('ZADD', due, s[3], member)
    retried = retried + 1
  else
    done[#done + 1] = member
    settled_at[#settled_at + 1] = f[3]
    settled_at[#settled_at + 1] = member
    if s[1] == 'm' then resolve(s[3]) end
    if s[1] == 'u' then
      redis.call('HSET', row, 'state', 'unmatched')
      redis.call('HINCRBY', row, 'tries', 1)
      redis.call('ZADD', p .. 'inbox:reports.unmatched', s[2], member)
      unmatched = unmatched + 1
    -- One report of each status per send record: a report polled twice, or
    -- re-pushed under another key, is a duplicate.
    elseif redis.call('SADD', p .. 'reported:' .. s[3], f[2]) == 1 then
      redis.call('HSET', row, 'state', 'matched', 'record', s[3], 'cpid', s[4])
      next_id = next_id + 1
      local queue = queues[s[4]]
      if not queue then
        queue = {}
        queues[s[4]] = queue
      end
      queue[#queue + 1] = next_id
      queue[#queue + 1] = next_id
      items[#items + 1] = next_id
      items[#items + 1] = s[5]
      ages[#ages + 1] = s[6]
      ages[#ages + 1] = next_id
      queued = queued + 1
    else
      redis.call('HSET', row, 'state', 'duplicate', 'cpid', s[4])
      duplicates = duplicates + 1
    end
  end
end
bulk('ZREM', due, done)
bulk('ZADD', settled, settled_at)
-- As the queues' enqueue() does for one item, for the batch's.
for cpid, queue in pairs(queues) do bulk('ZADD', p .. 'queue:reports:' .. cpid, queue) end
bulk('HSET', p .. 'queue:reports.items', items)
bulk('ZADD', p .. 'queue:reports.age', ages)
local counts = p .. 'inbox:counts'
local finished = queued + duplicates + unmatched
if finished > 0 then redis.call('HINCRBY', counts, 'reports.pending', -finished) end
if queued > 0 then redis.call('HINCRBY', counts, 'reports.matched', queued) end
if duplicates > 0 then redis.call('HINCRBY', counts, 'reports.duplicate', duplicates) end
if unmatched > 0 then redis.call('HINCRBY', counts, 'reports.unmatched', unmatched) end
return {queued, duplicates, retried, unmatched, skipped}
"""
)

SETTLE_REPLIES = (
    PRELUDE
    + ENQUEUE_FUNCTION
    + """
-- ARGV[2]: [["d", [inbox ids], cpid, payload, received_ms] | ["u", [inbox ids]], ...]
local queued, unmatched, skipped = 0, 0, 0
local delivered_rows, unmatched_rows = 0, 0
for _, s in ipairs(cjson.decode(ARGV[2])) do
  local ids = s[2]
  local whole = #ids > 0
  for _, id in ipairs(ids) do
    if redis.call('HGET', p .. 'inbox:replies:' .. id, 'state') ~= 'pending' then
      whole = false
      break
    end
  end
  if not whole then
    skipped = skipped + 1
  else
    local state = s[1] == 'd' and 'delivered' or 'unmatched'
    for _, id in ipairs(ids) do
      local row = p .. 'inbox:replies:' .. id
      redis.call('HSET', row, 'state', state)
      if s[1] == 'd' then redis.call('HSET', row, 'cpid', s[3]) end
      redis.call('ZREM', p .. 'inbox:replies.pending', pad(id))
      redis.call('ZADD', p .. 'inbox:replies.settled', redis.call('HGET', row, 'recv'), pad(id))
    end
    if s[1] == 'd' then
      enqueue('replies', s[3], s[4], s[5])
      queued = queued + 1
      delivered_rows = delivered_rows + #ids
    else
      unmatched = unmatched + 1
      unmatched_rows = unmatched_rows + #ids
    end
  end
end
local counts = p .. 'inbox:counts'
local done = delivered_rows + unmatched_rows
if done > 0 then redis.call('HINCRBY', counts, 'replies.pending', -done) end
if delivered_rows > 0 then
  redis.call('HINCRBY', counts, 'replies.delivered', delivered_rows)
end
if unmatched_rows > 0 then
  redis.call('HINCRBY', counts, 'replies.unmatched', unmatched_rows)
end
return {queued, unmatched, skipped}
"""
)


class RedisSettlement:
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._settle_reports = keys.script(SETTLE_REPORTS)
        self._settle_replies = keys.script(SETTLE_REPLIES)

    def __repr__(self) -> str:
        return f"<RedisSettlement prefix={self._keys.prefix!r}>"

    async def settle_reports(self, settlements: Sequence[ReportSettlement]) -> Settled:
        if not settlements:
            return Settled()
        encoded: list[list[str]] = []
        for s in settlements:
            if isinstance(s, ReportMatched):
                payload, ms = report_item(s.cpid, s.report)
                encoded.append(["m", str(s.inbox_id), str(s.record_key), s.cpid, payload, ms])
            elif isinstance(s, ReportRetry):
                encoded.append(["r", str(s.inbox_id), str(s.next_try_ms)])
            else:
                encoded.append(["u", str(s.inbox_id)])
        args = [self._keys.prefix, json.dumps(encoded), str(now_ms())]
        got = await self._settle_reports(args=args)
        queued, duplicates, retried, unmatched, skipped = (int(n) for n in got)
        return Settled(queued, duplicates, retried, unmatched, skipped)

    async def settle_replies(self, settlements: Sequence[ReplySettlement]) -> Settled:
        if not settlements:
            return Settled()
        encoded: list[list[Any]] = []
        for s in settlements:
            ids = [str(i) for i in dict.fromkeys(s.inbox_ids)]
            if isinstance(s, ReplyDelivered):
                payload, ms = reply_item(s.cpid, s.reply)
                encoded.append(["d", ids, s.cpid, payload, ms])
            else:
                encoded.append(["u", ids])
        got = await self._settle_replies(args=[self._keys.prefix, json.dumps(encoded)])
        queued, unmatched, skipped = (int(n) for n in got)
        return Settled(queued=queued, unmatched=unmatched, skipped=skipped)
