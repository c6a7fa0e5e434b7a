"""The Lua scripts of :class:`proxy.store.redis.RedisStore`, one per store method.

Redis runs a script whole before any other command, so a method that reads
then writes is one script and as atomic as the SQLite engine's transaction.
Every script takes the key prefix as ``ARGV[1]`` and builds its key names
from it (see the key layout in :mod:`proxy.store.redis`); lists of rows come
as one JSON argument whose numbers are strings, so no time or id ever passes
through a Lua float on its way in.  A script is not rolled back when it fails
half-way, so the Python side validates and encodes everything first and the
scripts only do what cannot fail on well-formed input.
"""

from __future__ import annotations

# Members of the sorted sets that must order like numbers are ids padded to a
# fixed width: for equal scores Redis orders members as strings.
_COMMON = """
local p = ARGV[1]
local function pad(id) return string.format('%016d', tonumber(id)) end
-- payload: a JSON array built by Python, the client first (purge reads it).
local function enqueue(kind, cpid, payload, at_ms)
  local id = redis.call('HINCRBY', p .. 'seq', 'queue.' .. kind, 1)
  redis.call('ZADD', p .. 'queue:' .. kind .. ':' .. cpid, id, id)
  redis.call('HSET', p .. 'queue:' .. kind .. '.items', id, payload)
  redis.call('ZADD', p .. 'queue:' .. kind .. '.age', at_ms, id)
end
"""

# A claim on (client, text digest, number) says what the dedup window knows of
# that recipient: its value is '<state>|<ms>|<send id>', state one of
# c (claimed by a send, no vendor yet), f (in flight at a vendor),
# u (unresolved: an ambiguous answer), a (accepted).  It expires with the
# dedup window.  The key is 'claim:<digest>:<phone>:<cpid>': the digest is
# hex and the phone digits, so only the cpid at the end comes from outside.
_CLAIMS = """
local function claim_key(cpid, digest, phone)
  return p .. 'claim:' .. digest .. ':' .. phone .. ':' .. cpid
end
local function parse_claim(v)
  if not v then return nil end
  local state, ms, owner = string.match(v, '^(%a)|(%d+)|(.*)$')
  return state, tonumber(ms), owner
end
-- Set the claim of record `key` to `state`, when the record's send owns it
-- (a send that claimed nothing, with no dedup window, has none to set).
local function settle_claim(key, state, now)
  local f = redis.call('HMGET', key, 'cpid', 'digest', 'phone', 'send', 'ms')
  if not f[1] then return end
  local ck = claim_key(f[1], f[2], f[3])
  local _, _, owner = parse_claim(redis.call('GET', ck))
  if owner ~= f[4] then return end
  local since = state == 'a' and now or f[5]
  redis.call('SET', ck, state .. '|' .. since .. '|' .. f[4], 'KEEPTTL')
end
-- A recipient not sent is back to claimed-only: failover may still take it
-- to another vendor, or the send's end releases it.
local RECORD_STATE = {in_flight = 'f', accepted = 'a', ambiguous = 'u', not_sent = 'c'}
"""

RECORD_SENDS = (
    _COMMON
    + _CLAIMS
    + """
-- ARGV[2]: [[send_id, cpid, vendor, phone, outcome, code, message_id|null,
--            digest, segments, created_ms], ...]
-- ARGV[3]: [[first key, count, outcome, code, [message_id|null, ...]|null], ...]
-- ARGV[4] now (ms)
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
return first
"""
)

CLAIM_RECIPIENTS = (
    _COMMON
    + _CLAIMS
    + """
-- ARGV[2] cpid, ARGV[3] digest, ARGV[4] send id, ARGV[5] now, ARGV[6] window,
-- ARGV[7] unresolved expiry (ms), ARGV[8] [[phone, '1' to resend when unresolved], ...],
-- ARGV[9] how old a claim that never reached a vendor must be to be stale (ms)
-- Checked and claimed in one script: of two daemons racing one retry, one
-- claims and the other sees the claim.
local cpid, digest, send = ARGV[2], ARGV[3], ARGV[4]
local now, window, expire = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local stale = tonumber(ARGV[9])
local taken = {}
for _, e in ipairs(cjson.decode(ARGV[8])) do
  local key = claim_key(cpid, digest, e[1])
  local state, ms, owner = parse_claim(redis.call('GET', key))
  local free = state == nil or owner == send
  if state == 'a' then
    taken[#taken + 1] = {e[1], 'a'}
  -- A rule that resends after no clear answer takes back an ambiguous one, not
  -- one another daemon is sending right now.
  elseif not free and ms >= now - (state == 'c' and stale or expire)
      and not (e[2] == '1' and state == 'u') then
    taken[#taken + 1] = {e[1], 'u'}
  else
    free = true
  end
  if free then redis.call('SET', key, 'c|' .. now .. '|' .. send, 'PX', window) end
end
return taken
"""
)

RELEASE_CLAIMS = (
    _COMMON
    + _CLAIMS
    + """
-- ARGV[2] cpid, ARGV[3] digest, ARGV[4] send id, ARGV[5] [phone, ...]
for _, phone in ipairs(cjson.decode(ARGV[5])) do
  local key = claim_key(ARGV[2], ARGV[3], phone)
  local state, _, owner = parse_claim(redis.call('GET', key))
  -- Only a claim that never reached a vendor: in flight or unresolved stays.
  if owner == ARGV[4] and state == 'c' then redis.call('DEL', key) end
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
    _COMMON
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
    _COMMON
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

RESERVE_QUOTA = """
-- KEYS[1] the usage hash; ARGV: cpid, segments, limit
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if used + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

RELEASE_QUOTA = """
-- KEYS[1] the usage hash; ARGV: cpid, segments
local used = redis.call('HGET', KEYS[1], ARGV[1])
if used then
  redis.call('HSET', KEYS[1], ARGV[1], math.max(0, tonumber(used) - tonumber(ARGV[2])))
end
return 0
"""

ENQUEUE = (
    _COMMON
    + """
-- ARGV[2] kind ('reports' or 'replies'), ARGV[3] cpid, ARGV[4] payload, ARGV[5] time (ms)
enqueue(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""
)

HOLD = """
-- KEYS: the client's queue, the client's held items, the items hash;
-- ARGV[1] limit, ARGV[2] now (ms), ARGV[3] hold (ms).
-- Taken from the queue and held in one script: two daemons polling for one
-- client never hand out one item twice.  A hold that ran out (its daemon
-- died before settling it) goes back in line first, by id.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], id, id)
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
-- ARGV[2] when the hold runs out, ARGV[3..] ids.  Only ids this hold still
-- has: one that ran out and was handed out again has a later score.
for i = 3, #ARGV do
  local id = ARGV[i]
  if tonumber(redis.call('ZSCORE', KEYS[2], id)) == tonumber(ARGV[2]) then
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

ADD_REPORTS = (
    _COMMON
    + """
-- ARGV[2]: [[account, key, phone, status, raw_status, message_id|null,
--            reported_ms|null, received_ms], ...]
local new = 0
for _, r in ipairs(cjson.decode(ARGV[2])) do
  local keys = p .. 'inbox:reports.keys:' .. r[1]
  if redis.call('HEXISTS', keys, r[2]) == 0 then
    local id = redis.call('HINCRBY', p .. 'seq', 'inbox.reports', 1)
    redis.call('HSET', keys, r[2], id)
    local row = p .. 'inbox:reports:' .. id
    redis.call('HSET', row, 'account', r[1], 'key', r[2], 'phone', r[3], 'status', r[4],
      'raw', r[5], 'recv', r[8], 'state', 'pending', 'tries', 0)
    if r[6] ~= cjson.null then redis.call('HSET', row, 'mid', r[6]) end
    if r[7] ~= cjson.null then redis.call('HSET', row, 'rms', r[7]) end
    redis.call('ZADD', p .. 'inbox:reports.due', r[8], pad(id))
    new = new + 1
  end
end
if new > 0 then redis.call('HINCRBY', p .. 'inbox:counts', 'reports.pending', new) end
return new
"""
)

ADD_REPLIES = (
    _COMMON
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
        _COMMON
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

SETTLE_REPORTS = (
    _COMMON
    + _CLAIMS
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
-- What every row of the batch adds to one key goes in one call at the end
-- (in slices, within Lua's stack): a call a row was most of the script.
local function bulk(command, key, args)
  for i = 1, #args, 1000 do
    redis.call(command, key, unpack(args, i, math.min(i + 999, #args)))
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
-- As enqueue() does for one item, for the batch's.
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
    _COMMON
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

# Retention works in slices, one script each, so a large purge never holds
# the server (and every daemon's sends behind it) for long.
PURGE_RECORDS = (
    _COMMON
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

PURGE_INBOX = (
    _COMMON
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

PURGE_QUEUE = (
    _COMMON
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

ACQUIRE_LEASE = """
-- KEYS[1] the lease; ARGV: holder, ttl (ms).  Taken when free or expired,
-- renewed when the holder asks again, refused to anyone else.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

REPLACE_DIGEST = """
-- KEYS[1] the password hash; ARGV: cpid, the stored password it must still
-- be, its replacement.  1 when replaced.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""
