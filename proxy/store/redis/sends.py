"""The send log in Redis.

=====================================  ===========================================
``record:<id>``                        hash: one send record
``records``                            zset: record id by its time (retention)
``to:<phone>``                         zset: record ids (zero-padded) by time, per phone
``unresolved``                         zset: ids of unresolved records by time
``reported:<record id>``               set: statuses already matched to the record
                                       (added by :mod:`.settlement`)
``batch:<token>``                      string: the first record id one call wrote,
                                       so a call run again writes nothing (10 min)
=====================================  ===========================================

A batch of send records is one script call, whatever its size: the send
path makes no round trip per recipient.

A batch the master wrote but too few replicas acknowledged is answered as
not written (:class:`~.connect.ReplicasBehind`, the client hears ``-15``),
so its new records are marked not sent on the master at once: left in
flight, their claims would have a retry of those numbers answered ``-17``
(unresolved) for ``routing.unresolved_expire_s``, though none was sent.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

import structlog

from proxy.store.epoch import now_ms
from proxy.store.redis.claims import CLAIM_FUNCTIONS
from proxy.store.redis.connect import ReplicasBehind
from proxy.store.redis.keyspace import (
    PRELUDE,
    PURGE_SLICE,
    Keyspace,
    json_list,
    purge_in_slices,
)
from proxy.store.sends import (
    CandidateQuery,
    SendCandidate,
    SendChunk,
    SendRecord,
    SendSettlement,
)

log = structlog.get_logger("smsproxy.redis")

MAX_CANDIDATES = 100

RECORD_SENDS = (
    PRELUDE
    + CLAIM_FUNCTIONS
    + """
-- ARGV[2]: [[send_id, cpid, vendor, phone, outcome, code, message_id|null,
--            digest, segments, created_ms], ...]
-- ARGV[3]: [[first key, count, outcome, code, [message_id|null, ...]|null], ...]
-- ARGV[4] now (ms), ARGV[5] this call's token
-- A call run again (redis-py runs it once more after a lost connection, and
-- the first may have run) answers what the first wrote, and writes nothing:
-- run twice, its records stood twice, the second copy in flight for ever.
local done = p .. 'batch:' .. ARGV[5]
local before = redis.call('GET', done)
if before then return tonumber(before) end
local rows, settlements = cjson.decode(ARGV[2]), cjson.decode(ARGV[3])
local now = tonumber(ARGV[4])
-- Settlements first: theirs are records of earlier writes, and a failover's
-- 'not sent' must not overwrite the next vendor's 'in flight' in this batch.
for _, s in ipairs(settlements) do
  local state = RECORD_STATE[s[3]]
  for i = 0, tonumber(s[2]) - 1 do
    local rid = tonumber(s[1]) + i
    local key = p .. 'record:' .. rid
    if redis.call('HGET', key, 'outcome') == 'in_flight' then
      redis.call('HSET', key, 'outcome', s[3], 'code', s[4])
      if state ~= 'u' then redis.call('ZREM', p .. 'unresolved', rid) end
      if state then settle_claim(key, state, now) end
    end
    if s[5] ~= cjson.null and s[5][i + 1] ~= cjson.null then
      redis.call('HSET', key, 'mid', s[5][i + 1])
    end
  end
end
local id = redis.call('HINCRBY', p .. 'seq', 'record', #rows) - #rows
local first = id + 1
for _, r in ipairs(rows) do
  id = id + 1
  local key = p .. 'record:' .. id
  redis.call('HSET', key, 'send', r[1], 'cpid', r[2], 'vendor', r[3], 'phone', r[4],
    'outcome', r[5], 'code', r[6], 'digest', r[8], 'seg', r[9], 'ms', r[10])
  if r[7] ~= cjson.null then redis.call('HSET', key, 'mid', r[7]) end
  redis.call('ZADD', p .. 'records', r[10], id)
  redis.call('ZADD', p .. 'to:' .. r[4], r[10], pad(id))
  local state = RECORD_STATE[r[5]]
  if state == 'f' or state == 'u' then redis.call('ZADD', p .. 'unresolved', r[10], id) end
  if state then settle_claim(key, state, now) end
end
redis.call('SET', done, first, 'PX', 600000)
return first
"""
)

UNRECORD_SENDS = (
    PRELUDE
    + CLAIM_FUNCTIONS
    + """
-- ARGV[2] first record id, ARGV[3] count, ARGV[4] code, ARGV[5] now (ms)
-- Records a batch wrote on the master that its replicas did not acknowledge:
-- not sent after all.  Each one's claim goes back to what the send's other
-- records of that number say (an earlier vendor's unresolved answer stands),
-- or to claimed-only, for the send's release.  A send's records lie within
-- its routing.send_deadline_s (300 s at most); other sends' records of the
-- number, however many, lie among them, so the look is by time, 600 s back.
local first, now = tonumber(ARGV[2]), tonumber(ARGV[5])
local undone = {}
for rid = first, first + tonumber(ARGV[3]) - 1 do
  local key = p .. 'record:' .. rid
  if redis.call('HGET', key, 'outcome') == 'in_flight' then
    redis.call('HSET', key, 'outcome', 'not_sent', 'code', ARGV[4])
    redis.call('ZREM', p .. 'unresolved', rid)
    undone[#undone + 1] = key
  end
end
local RANK = {c = 0, u = 1, f = 1, a = 2}
for _, key in ipairs(undone) do
  local f = redis.call('HMGET', key, 'send', 'phone')
  local state = 'c'
  local since = tonumber(redis.call('HGET', key, 'ms')) - 600000
  for _, m in ipairs(redis.call('ZREVRANGEBYSCORE', p .. 'to:' .. f[2], '+inf', since)) do
    local o = redis.call('HMGET', p .. 'record:' .. tonumber(m), 'send', 'outcome')
    local s = o[1] == f[1] and RECORD_STATE[o[2]]
    if s and RANK[s] > RANK[state] then state = s end
  end
  settle_claim(key, state, now)
end
return 0
"""
)

UNRESOLVED = """
-- ARGV[1] prefix, ARGV[2] since (ms), ARGV[3] limit
local p = ARGV[1]
local key = p .. 'unresolved'
local count = redis.call('ZCOUNT', key, ARGV[2], '+inf')
local out = {}
for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', key, '+inf', ARGV[2], 'LIMIT', 0,
    tonumber(ARGV[3]))) do
  out[#out + 1] = redis.call('HMGET', p .. 'record:' .. id, 'send', 'cpid', 'vendor', 'phone',
    'outcome', 'code', 'mid', 'digest', 'seg', 'ms')
end
return {count, out}
"""

# Shared by send_candidates_many and last_sender: walk one phone's records newest
# first (what SQLite's index on (phone, created_ms) gives), keep those that
# pass ``keep``, stop at ``limit``.
_WALK = """
local function walk(phone, limit, keep)
  local key = p .. 'to:' .. phone
  local found, start = {}, 0
  while #found < limit do
    local ids = redis.call('ZREVRANGE', key, start, start + 99)
    if #ids == 0 then break end
    for _, m in ipairs(ids) do
      local id = tonumber(m)
      local f = redis.call('HMGET', p .. 'record:' .. id, 'cpid', 'vendor', 'mid', 'ms',
        'outcome')
      if f[2] and f[5] ~= 'not_sent' and keep(f) then
        found[#found + 1] = {id, f}
        if #found >= limit then break end
      end
    end
    start = start + 100
  end
  return found
end
local function vendor_set(first)
  local set = {}
  for i = first, #ARGV do set[ARGV[i]] = true end
  return set
end
"""

SEND_CANDIDATES_MANY = (
    PRELUDE
    + _WALK
    + """
-- ARGV[2]: [[phone, '1' when a message id is given, the id, [vendor, ...]], ...]
-- ARGV[3] limit.  A list of candidates per query, in order: one script for a
-- whole batch of reports, so the round trip is paid once.
local limit = tonumber(ARGV[3])
local reported = {}  -- record id -> its statuses, read once however often found
local out = {}
for i, q in ipairs(cjson.decode(ARGV[2])) do
  local with_id, mid = q[2] == '1', q[3]
  local vendors = {}
  for _, v in ipairs(q[4]) do vendors[v] = true end
  local found = {}
  if #q[4] > 0 then
    found = walk(q[1], limit, function(f)
      -- With an id, a record without one is a candidate too: an ambiguous
      -- attempt never learnt its id.
      return vendors[f[2]] and (not with_id or not f[3] or f[3] == mid)
    end)
  end
  local rows = {}
  for _, c in ipairs(found) do
    local f = c[2]
    if not reported[c[1]] then
      reported[c[1]] = redis.call('SMEMBERS', p .. 'reported:' .. c[1])
    end
    rows[#rows + 1] = {c[1], f[1], f[2], f[3] or cjson.null, f[4], reported[c[1]]}
  end
  out[i] = rows
end
-- One JSON string: redis-py parses a nested reply element by element in
-- Python, which cost more than the script itself.
return cjson.encode(out)
"""
)

LAST_SENDER = (
    PRELUDE
    + _WALK
    + """
-- ARGV[2] phone, ARGV[3] '1' to filter by the vendors in ARGV[4..]
local any = ARGV[3] ~= '1'
local vendors = vendor_set(4)
local found = walk(ARGV[2], 1, function(f) return any or vendors[f[2]] end)
if #found == 0 then return false end
return found[1][2][1]
"""
)

PURGE_RECORDS = (
    PRELUDE
    + """
-- ARGV[2] before (ms, exclusive), ARGV[3] slice
local before = '(' .. ARGV[2]
local ids = redis.call('ZRANGEBYSCORE', p .. 'records', '-inf', before, 'LIMIT', 0,
  tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local phone = redis.call('HGET', p .. 'record:' .. id, 'phone')
  if phone then redis.call('ZREM', p .. 'to:' .. phone, pad(id)) end
  redis.call('DEL', p .. 'record:' .. id, p .. 'reported:' .. id)
  redis.call('ZREM', p .. 'records', id)
  redis.call('ZREM', p .. 'unresolved', id)
end
return #ids
"""
)


class RedisSendLog:
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._record_sends = keys.script(RECORD_SENDS)
        # Its replicas lagging already, an undo that waited for them would
        # hold the recorder (every send's group commit) for nothing.
        self._unrecord_sends = keys.script(UNRECORD_SENDS, backs_answers=False)
        self._unresolved = keys.script(UNRESOLVED, backs_answers=False)
        self._send_candidates_many = keys.script(SEND_CANDIDATES_MANY, backs_answers=False)
        self._last_sender = keys.script(LAST_SENDER, backs_answers=False)
        self._purge = keys.script(PURGE_RECORDS)

    def __repr__(self) -> str:
        return f"<RedisSendLog prefix={self._keys.prefix!r}>"

    async def record_sends(
        self,
        records: Sequence[SendRecord | SendChunk],
        settlements: Sequence[SendSettlement] = (),
    ) -> int:
        if not records and not settlements:
            return 0
        rows = [
            [
                r.send_id,
                r.cpid,
                r.vendor,
                r.phone,
                r.outcome,
                r.vendor_code,
                r.message_id,
                r.text_digest,
                str(r.segments),
                str(r.created_ms),
            ]
            for entry in records
            for r in (entry.records() if isinstance(entry, SendChunk) else (entry,))
        ]
        settled = [
            [str(s.first_key), str(s.size), s.outcome, s.vendor_code, s.message_ids]
            for s in settlements
        ]
        args = [
            self._keys.prefix,
            json.dumps(rows),
            json.dumps(settled),
            str(now_ms()),
            secrets.token_hex(8),
        ]
        try:
            return int(await self._record_sends(args=args))
        except ReplicasBehind as exc:
            if rows:
                await self._unrecord(int(exc.answer), len(rows))
            raise

    async def _unrecord(self, first: int, count: int) -> None:
        """Records ``first`` and the ``count - 1`` after it were not sent after all."""
        args = [self._keys.prefix, str(first), str(count), "store_busy", str(now_ms())]
        try:
            await self._unrecord_sends(args=args)
        except Exception as exc:
            log.warning("records_not_unmarked", records=count, error=repr(exc))

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        count, rows = await self._unresolved(args=[self._keys.prefix, str(since_ms), str(limit)])
        records = [
            SendRecord(send, cpid, vendor, phone, outcome, code, mid, digest, int(seg), int(ms))
            for send, cpid, vendor, phone, outcome, code, mid, digest, seg, ms in rows
            if send is not None
        ]
        return int(count), records

    async def send_candidates_many(
        self, queries: Sequence[CandidateQuery]
    ) -> list[list[SendCandidate]]:
        unique = list(dict.fromkeys(queries))
        if not unique:
            return []
        encoded = [
            [
                q.phone,
                "0" if q.message_id is None else "1",
                q.message_id or "",
                list(dict.fromkeys(q.vendors)),
            ]
            for q in unique
        ]
        args = [self._keys.prefix, json.dumps(encoded), str(MAX_CANDIDATES)]
        found = json_list(await self._send_candidates_many(args=args))
        answers = {q: _candidates(rows) for q, rows in zip(unique, found, strict=True)}
        return [list(answers[q]) for q in queries]

    async def last_sender(self, phone: str, vendors: Sequence[str] | None) -> str | None:
        if vendors is not None and not vendors:
            return None
        names = [] if vendors is None else list(dict.fromkeys(vendors))
        flag = "0" if vendors is None else "1"
        cpid = await self._last_sender(args=[self._keys.prefix, phone, flag, *names])
        return None if cpid is None else str(cpid)

    async def purge(self, before_ms: int) -> int:
        args = [self._keys.prefix, str(before_ms), str(PURGE_SLICE)]
        return await purge_in_slices([(self._purge, args)])


def _candidates(rows: list[list[Any]]) -> list[SendCandidate]:
    return [
        SendCandidate(int(key), cpid, vendor, mid, int(created), frozenset(map(int, reported)))
        for key, cpid, vendor, mid, created, reported in rows
    ]
