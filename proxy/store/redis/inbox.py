"""The inbox in Redis.

=====================================  ===========================================
``inbox:<kind>:<id>``                  hash: one inbox row
``inbox:<kind>.keys:<account>``        hash: de-duplication key -> row id
``inbox:reports.due``                  zset: pending report ids (padded) by retry time
``inbox:replies.pending``              zset: pending reply ids (padded) by id
``inbox:reports.unmatched``            zset: unmatched report ids (padded) by id
``inbox:<kind>.settled``               zset: settled row ids (padded) by arrival time
``inbox:counts``                       hash: ``<kind>.<state>`` -> rows
=====================================  ===========================================

``<kind>`` is ``reports`` or ``replies``.  Settlement (:mod:`.settlement`)
moves rows from pending to settled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from proxy.store.inbox import InboxReply, InboxReport
from proxy.store.redis.keyspace import (
    BULK_FUNCTION,
    PRELUDE,
    PURGE_SLICE,
    Keyspace,
    json_list,
    purge_in_slices,
)

# Rows a call of the add scripts stores: a poll hands over up to thousands,
# which in one script held the server (and every send's call behind it) for
# tens of milliseconds.  Not one transaction: the poll spool
# (proxy.ingest.spool) stores the whole answer again after a crash, and rows
# whose keys the inbox has are dropped.
ADD_SLICE = 250

ADD_REPORTS = (
    PRELUDE
    + BULK_FUNCTION
    + """
-- ARGV[2]: [[account, key, phone, status, raw_status, message_id|null,
--            reported_ms|null, received_ms], ...]
-- Two calls a new row (its key, its hash) and a few for the batch: ids are
-- counted from the last one taken and taken together at the end.
local seq = p .. 'seq'
local last = tonumber(redis.call('HGET', seq, 'inbox.reports') or '0')
local new, due = 0, {}
for _, r in ipairs(cjson.decode(ARGV[2])) do
  local id = last + new + 1
  -- A key the inbox has already (a report polled or pushed twice) adds nothing.
  if redis.call('HSETNX', p .. 'inbox:reports.keys:' .. r[1], r[2], id) == 1 then
    new = new + 1
    local row = {'account', r[1], 'key', r[2], 'phone', r[3], 'status', r[4], 'raw', r[5],
      'recv', r[8], 'state', 'pending', 'tries', 0}
    if r[6] ~= cjson.null then
      row[#row + 1] = 'mid'
      row[#row + 1] = r[6]
    end
    if r[7] ~= cjson.null then
      row[#row + 1] = 'rms'
      row[#row + 1] = r[7]
    end
    redis.call('HSET', p .. 'inbox:reports:' .. id, unpack(row))
    due[#due + 1] = r[8]
    due[#due + 1] = pad(id)
  end
end
if new > 0 then
  redis.call('HINCRBY', seq, 'inbox.reports', new)
  bulk('ZADD', p .. 'inbox:reports.due', due)
  redis.call('HINCRBY', p .. 'inbox:counts', 'reports.pending', new)
end
return new
"""
)

ADD_REPLIES = (
    PRELUDE
    + """
-- ARGV[2]: [[account, key, phone, text, sent_ms|null, dest, part_ref|null,
--            part_total|null, part_index|null, received_ms], ...]
local new = 0
local optional = {[5] = 'sent', [7] = 'pref', [8] = 'ptotal', [9] = 'pindex'}
for _, r in ipairs(cjson.decode(ARGV[2])) do
  local keys = p .. 'inbox:replies.keys:' .. r[1]
  if redis.call('HEXISTS', keys, r[2]) == 0 then
    local id = redis.call('HINCRBY', p .. 'seq', 'inbox.replies', 1)
    redis.call('HSET', keys, r[2], id)
    local row = p .. 'inbox:replies:' .. id
    redis.call('HSET', row, 'account', r[1], 'key', r[2], 'phone', r[3], 'text', r[4],
      'dest', r[6], 'recv', r[10], 'state', 'pending')
    for i, field in pairs(optional) do
      if r[i] ~= cjson.null then redis.call('HSET', row, field, r[i]) end
    end
    redis.call('ZADD', p .. 'inbox:replies.pending', id, pad(id))
    new = new + 1
  end
end
if new > 0 then redis.call('HINCRBY', p .. 'inbox:counts', 'replies.pending', new) end
return new
"""
)

_REPORT_FIELDS = "'account', 'key', 'phone', 'status', 'raw', 'mid', 'rms', 'recv'"
_REPLY_FIELDS = (
    "'account', 'key', 'phone', 'text', 'sent', 'dest', 'pref', 'ptotal', 'pindex', 'recv'"
)


def _read_rows(select_ids: str, kind: str, fields: str, *, as_json: bool = False) -> str:
    """A script that picks inbox ids (``select_ids`` sets ``ids``) and returns their rows.

    ``as_json``: the rows as one JSON string, a missing field null, for the
    matcher's batches: redis-py parses a nested reply element by element in
    Python, which costs more than the script.
    """
    # HMGET gives false for a missing field, which cjson would write as false.
    nulls = "for i = 1, #f do if not f[i] then f[i] = cjson.null end end" if as_json else ""
    return (
        PRELUDE
        + select_ids
        + f"""
local out = {{}}
for _, m in ipairs(ids) do
  local id = tonumber(m)
  local f = redis.call('HMGET', p .. 'inbox:{kind}:' .. id, {fields})
  {nulls}
  f[#f + 1] = id
  out[#out + 1] = f
end
return {"cjson.encode(out)" if as_json else "out"}
"""
    )


PENDING_REPORTS = _read_rows(
    """
-- ARGV[2] now (ms), ARGV[3] limit.  Due first, then oldest: a retried row
-- waits behind rows that came after it but were due before it.
local ids = redis.call('ZRANGEBYSCORE', p .. 'inbox:reports.due', '-inf', ARGV[2],
  'LIMIT', 0, tonumber(ARGV[3]))""",
    "reports",
    _REPORT_FIELDS,
    as_json=True,
)

UNMATCHED_REPORTS = _read_rows(
    """
-- ARGV[2] limit; newest first
local ids = redis.call('ZREVRANGE', p .. 'inbox:reports.unmatched', 0, tonumber(ARGV[2]) - 1)""",
    "reports",
    _REPORT_FIELDS,
)

PENDING_REPLIES = _read_rows(
    """
-- ARGV[2] limit; oldest first
local ids = redis.call('ZRANGE', p .. 'inbox:replies.pending', 0, tonumber(ARGV[2]) - 1)""",
    "replies",
    _REPLY_FIELDS,
)

PURGE_INBOX = (
    PRELUDE
    + """
-- ARGV[2] kind ('reports' or 'replies'), ARGV[3] before (ms, exclusive), ARGV[4] slice.
-- Only settled rows are indexed by time here: pending rows are never purged.
local kind = ARGV[2]
local settled = p .. 'inbox:' .. kind .. '.settled'
local members = redis.call('ZRANGEBYSCORE', settled, '-inf', '(' .. ARGV[3], 'LIMIT', 0,
  tonumber(ARGV[4]))
for _, m in ipairs(members) do
  local id = tonumber(m)
  local row = p .. 'inbox:' .. kind .. ':' .. id
  local f = redis.call('HMGET', row, 'account', 'key', 'state', 'record', 'status')
  if f[1] then redis.call('HDEL', p .. 'inbox:' .. kind .. '.keys:' .. f[1], f[2]) end
  if f[3] then redis.call('HINCRBY', p .. 'inbox:counts', kind .. '.' .. f[3], -1) end
  -- The record no longer has this report (as in SQLite, where the row goes).
  if f[3] == 'matched' then redis.call('SREM', p .. 'reported:' .. f[4], f[5]) end
  redis.call('DEL', row)
  redis.call('ZREM', settled, m)
  if kind == 'reports' then redis.call('ZREM', p .. 'inbox:reports.unmatched', m) end
end
return #members
"""
)


class RedisInbox:
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._add_reports = keys.script(ADD_REPORTS)
        self._add_replies = keys.script(ADD_REPLIES)
        self._pending_reports = keys.script(PENDING_REPORTS, backs_answers=False)
        self._pending_replies = keys.script(PENDING_REPLIES, backs_answers=False)
        self._unmatched_reports = keys.script(UNMATCHED_REPORTS, backs_answers=False)
        self._purge = keys.script(PURGE_INBOX)

    def __repr__(self) -> str:
        return f"<RedisInbox prefix={self._keys.prefix!r}>"

    async def add_reports(self, reports: Sequence[InboxReport]) -> int:
        if not reports:
            return 0
        rows = [
            [
                r.account,
                r.key,
                r.phone,
                str(r.status),
                r.raw_status,
                r.message_id,
                _opt(r.reported_ms),
                str(r.received_ms),
            ]
            for r in reports
        ]
        new = 0
        for i in range(0, len(rows), ADD_SLICE):
            chunk = json.dumps(rows[i : i + ADD_SLICE])
            new += int(await self._add_reports(args=[self._keys.prefix, chunk]))
        return new

    async def add_replies(self, replies: Sequence[InboxReply]) -> int:
        if not replies:
            return 0
        rows = [
            [
                r.account,
                r.key,
                r.phone,
                r.text,
                _opt(r.sent_ms),
                r.dest,
                r.part_ref,
                _opt(r.part_total),
                _opt(r.part_index),
                str(r.received_ms),
            ]
            for r in replies
        ]
        return int(await self._add_replies(args=[self._keys.prefix, json.dumps(rows)]))

    async def pending_reports(self, now_ms: int, limit: int) -> list[InboxReport]:
        if limit <= 0:
            return []
        answer = await self._pending_reports(args=[self._keys.prefix, str(now_ms), str(limit)])
        return [_inbox_report(row) for row in json_list(answer)]

    async def pending_replies(self, limit: int) -> list[InboxReply]:
        if limit <= 0:
            return []
        rows = await self._pending_replies(args=[self._keys.prefix, str(limit)])
        return [_inbox_reply(row) for row in rows]

    async def unmatched_reports(self, limit: int) -> list[InboxReport]:
        if limit <= 0:
            return []
        rows = await self._unmatched_reports(args=[self._keys.prefix, str(limit)])
        return [_inbox_report(row) for row in rows]

    async def inbox_counts(self) -> dict[str, int]:
        counts = await self._keys.client.hgetall(self._keys.key("inbox:counts"))
        return {str(state): int(n) for state, n in counts.items() if int(n) > 0}

    async def purge(self, before_ms: int) -> int:
        before, size = str(before_ms), str(PURGE_SLICE)
        return await purge_in_slices(
            [
                (self._purge, [self._keys.prefix, "reports", before, size]),
                (self._purge, [self._keys.prefix, "replies", before, size]),
            ]
        )


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _inbox_report(row: list[Any]) -> InboxReport:
    account, key, phone, status, raw, mid, reported, received, id_ = row
    return InboxReport(
        account,
        key,
        phone,
        int(status),
        raw,
        mid,
        _int(reported),
        int(received),
        int(id_),
    )


def _inbox_reply(row: list[Any]) -> InboxReply:
    account, key, phone, text, sent, dest, ref, total, index, received, id_ = row
    return InboxReply(
        account,
        key,
        phone,
        text,
        _int(sent),
        dest,
        ref,
        _int(total),
        _int(index),
        int(received),
        int(id_),
    )
