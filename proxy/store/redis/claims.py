"""Claims in Redis: each (client, text, number) claimed in one script.

=====================================  ===========================================
``claim:<digest>:<phone>:<cpid>``      string: what a retry of that recipient finds,
                                       expiring with the dedup window
=====================================  ===========================================

A claim's value is ``<state>|<ms>|<send id>``, state one of ``c`` (claimed by
a send, no vendor yet), ``f`` (in flight at a vendor), ``u`` (unresolved: an
ambiguous answer), ``a`` (accepted).  A send that resends to a number left
unresolved (a rule with ``ambiguous = "at_least_once"``) keeps the claim it
took over after its own: ``c|<ms>|<send id>|u|<ms>|<earlier send id>``.
Released, the claim goes back to that one, since its vendor may still have
the message and a retry under another rule must find it.  The send log's script moves it along
with its record's outcome (:data:`CLAIM_FUNCTIONS`), and so does a report
settled against the record.  The digest is hex and the phone digits, so only
the cpid at the end comes from outside.

The claims of the sends of one turn of the event loop are one call of the
script (:mod:`.batch`), each send's as its own call would have made it.  A
send releases only the claims no vendor has
(:meth:`proxy.ledger.SendLedger.not_reached`): one accepted or unresolved is
what a retry must find, so a send a vendor took makes no release call.

A claim call that fails after it may have run (its replicas did not
acknowledge it, or the connection was lost on the way back) sends nothing,
so what it claimed and reserved is given back at once: left in place, a
retry of those numbers reads them unresolved (``-17``) until the claims go
stale, although no vendor has them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import structlog

from proxy.store.claims import ClaimWindow, Taken
from proxy.store.quotas import QuotaAsk, QuotaExhausted
from proxy.store.redis.batch import TickBatch
from proxy.store.redis.connect import NotSent
from proxy.store.redis.keyspace import PRELUDE, Keyspace, json_list
from proxy.store.redis.pool import PoolExhausted

log = structlog.get_logger("smsproxy.redis")

# Lua functions of the scripts that read or move claims (after PRELUDE).
CLAIM_FUNCTIONS = """
local function claim_key(cpid, digest, phone)
  return p .. 'claim:' .. digest .. ':' .. phone .. ':' .. cpid
end
-- state, ms, owner, and the claim taken over ('' for none)
local function parse_claim(v)
  if not v then return nil end
  local state, ms, owner, was = string.match(v, '^(%a)|(%d+)|([^|]*)|?(.*)$')
  return state, tonumber(ms), owner, was
end
local function with_was(v, was)
  if was and was ~= '' then return v .. '|' .. was end
  return v
end
-- Give up a claim of `send` that no vendor has: back to the one it took over, or gone.
local function give_up_claim(key, send)
  local state, _, owner, was = parse_claim(redis.call('GET', key))
  if owner ~= send or state ~= 'c' then return false end
  if was ~= '' then redis.call('SET', key, was, 'KEEPTTL') else redis.call('DEL', key) end
  return true
end
-- Set the claim of record `key` to `state`, when the record's send owns it
-- (a send that claimed nothing, with no dedup window, has none to set), or
-- owned the claim a resend took over (a late report of the first send: what
-- a release of the resend gives back must say accepted).
local function settle_claim(key, state, now)
  local f = redis.call('HMGET', key, 'cpid', 'digest', 'phone', 'send', 'ms')
  if not f[1] then return end
  local ck = claim_key(f[1], f[2], f[3])
  local now_state, now_ms, owner, was = parse_claim(redis.call('GET', ck))
  local since = state == 'a' and now or f[5]
  local mine = state .. '|' .. since .. '|' .. f[4]
  if owner == f[4] then
    redis.call('SET', ck, with_was(mine, was), 'KEEPTTL')
  elseif was and was ~= '' and select(3, parse_claim(was)) == f[4] then
    -- Accepted: the number has the message, whatever the resend does; a
    -- retry must find that, not the resend's own unresolved answer.
    local v = state == 'a' and mine or now_state .. '|' .. now_ms .. '|' .. owner .. '|' .. mine
    redis.call('SET', ck, v, 'KEEPTTL')
  end
end
-- A recipient not sent is back to claimed-only: failover may still take it
-- to another vendor, or the send's end releases it.
local RECORD_STATE = {in_flight = 'f', accepted = 'a', ambiguous = 'u', not_sent = 'c'}
"""

CLAIM_RECIPIENTS = (
    PRELUDE
    + CLAIM_FUNCTIONS
    + """
-- ARGV[2]: [[cpid, digest, send id, now, window, unresolved expiry (ms),
--            [[phone, '1' to resend when unresolved], ...],
--            how old a claim that never reached a vendor must be to be stale (ms),
--            segments a recipient to reserve on the client's quota ('' for none),
--            the quota], ...]: the claims of several sends, each as its own
-- script would make them, in order.
-- Checked and claimed in one script: of two daemons racing one retry, one
-- claims and the other sees the claim.  The quota is reserved in the same
-- script, for the recipients claimed: exact across daemons, no round trip
-- of its own.  A send its quota would pass: 'quota', nothing claimed or
-- reserved for it.  Answers, as JSON, each send's [[phone, 'a' or 'u'], ...].
local function claim(cpid, digest, send, now, window, expire, entries, stale, seg, limit)
  local taken, mine, untaken = {}, {}, 0
  for _, e in ipairs(entries) do
    local key = claim_key(cpid, digest, e[1])
    local state, ms, owner, prior = parse_claim(redis.call('GET', key))
    -- Claimed by a first run of this call (retried after a lost connection):
    -- reserved on the quota then, not again.
    local again = owner == send
    -- A resend's claim gone stale, or this send's own: what counts is the
    -- claim it took over.
    if state == 'c' and prior ~= '' and (again or ms < now - stale) then
      state, ms, owner = parse_claim(prior)
    end
    local free = state == nil or owner == send
    local was = nil
    if state == 'a' then
      taken[#taken + 1] = {e[1], 'a'}
    -- A rule that resends after no clear answer takes back an ambiguous one, not
    -- one another daemon is sending right now.
    elseif not free and ms >= now - (state == 'c' and stale or expire)
        and not (e[2] == '1' and state == 'u') then
      taken[#taken + 1] = {e[1], 'u'}
    else
      if not free and state == 'u' and ms >= now - expire then
        was = 'u|' .. ms .. '|' .. owner  -- resent: kept, to give back if not sent
      end
      free = true
      if not again then untaken = untaken + 1 end
    end
    if free then mine[#mine + 1] = {key, was} end
  end
  if seg ~= '' and untaken > 0 then
    local quota, segments = p .. 'quota', tonumber(seg) * untaken
    local used = tonumber(redis.call('HGET', quota, cpid) or '0')
    if used + segments > tonumber(limit) then return 'quota' end
    redis.call('HINCRBY', quota, cpid, segments)
  end
  for _, m in ipairs(mine) do
    redis.call('SET', m[1], with_was('c|' .. now .. '|' .. send, m[2]), 'PX', window)
  end
  return taken
end
local out = {}
for i, c in ipairs(cjson.decode(ARGV[2])) do
  out[i] = claim(c[1], c[2], c[3], tonumber(c[4]), tonumber(c[5]), tonumber(c[6]), c[7],
    tonumber(c[8]), c[9], c[10])
end
return cjson.encode(out)
"""
)

RELEASE_CLAIMS = (
    PRELUDE
    + CLAIM_FUNCTIONS
    + """
-- ARGV[2] cpid, ARGV[3] digest, ARGV[4] send id, ARGV[5] [phone, ...]
for _, phone in ipairs(cjson.decode(ARGV[5])) do
  -- Only a claim that never reached a vendor: in flight or unresolved stays.
  give_up_claim(claim_key(ARGV[2], ARGV[3], phone), ARGV[4])
end
return 0
"""
)

UNCLAIM_RECIPIENTS = (
    PRELUDE
    + CLAIM_FUNCTIONS
    + """
-- ARGV[2]: the asks of a CLAIM_RECIPIENTS call that may have run and whose
-- sends go no further.  Each send's claims still at 'c' are given up, and the
-- quota reserved for them given back: the claim script reserved exactly one
-- recipient's segments for each claim it made.
for _, c in ipairs(cjson.decode(ARGV[2])) do
  local cpid, digest, send, seg = c[1], c[2], c[3], c[9]
  local dropped = 0
  for _, e in ipairs(c[7]) do
    if give_up_claim(claim_key(cpid, digest, e[1]), send) then dropped = dropped + 1 end
  end
  if seg ~= '' and dropped > 0 then
    local quota = p .. 'quota'
    local used = tonumber(redis.call('HGET', quota, cpid) or '0')
    redis.call('HSET', quota, cpid, math.max(0, used - tonumber(seg) * dropped))
  end
end
return 0
"""
)

# One send's claim as the script takes it, and its answer: "quota", or the
# numbers taken ([phone, "a" (accepted) or "u" (unresolved)]).
ClaimAsk = list[str | list[list[str]]]
ClaimAnswer = str | list[list[str]]


class RedisClaims:
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._claim_recipients = keys.script(CLAIM_RECIPIENTS)
        # A release lost in a failover costs a retry a -17 until the claim goes
        # stale, never a second send: not worth a wait for replicas, nor a
        # failure when they lag.
        self._release_claims = keys.script(RELEASE_CLAIMS, backs_answers=False)
        self._unclaim_recipients = keys.script(UNCLAIM_RECIPIENTS, backs_answers=False)
        # The claims of the sends of one turn of the loop, in one call.
        self._claims: TickBatch[ClaimAsk, ClaimAnswer] = TickBatch(self._claim, "claims")

    def __repr__(self) -> str:
        return f"<RedisClaims prefix={self._keys.prefix!r}>"

    async def claim_recipients(
        self,
        cpid: str,
        text_digest: str,
        send_id: str,
        phones: Sequence[str],
        claim: ClaimWindow,
        quota: QuotaAsk | None = None,
    ) -> list[Taken]:
        unique = list(dict.fromkeys(phones))
        if not unique:
            return []
        resend = claim.resend_unresolved
        entries = [[p, "1" if p in resend else "0"] for p in unique]
        ask: ClaimAsk = [
            cpid,
            text_digest,
            send_id,
            str(claim.now_ms),
            str(max(1, claim.window_ms)),
            str(claim.unresolved_ms),
            entries,
            str(claim.stale_claim_ms),
            "" if quota is None else str(quota.segments),
            "" if quota is None else str(quota.limit),
        ]
        taken = await self._claims.ask(ask)
        if isinstance(taken, str):  # "quota"
            raise QuotaExhausted(cpid)
        return [Taken(phone, state == "a") for phone, state in taken]

    async def _claim(self, asks: list[ClaimAsk]) -> list[ClaimAnswer]:
        args = [self._keys.prefix, json.dumps(asks)]
        try:
            answer = await self._claim_recipients(args=args)
        except (NotSent, PoolExhausted):
            raise  # it surely did not run: nothing to give back
        except Exception:
            await self._unclaim(args, len(asks))
            raise
        return json_list(answer)

    async def _unclaim(self, args: list[str], sends: int) -> None:
        try:
            await self._unclaim_recipients(args=args)
        except Exception as exc:
            # Left claimed, they read as unresolved until the claims go stale.
            log.warning("claims_not_released", sends=sends, error=repr(exc))

    async def release_claims(
        self, cpid: str, text_digest: str, send_id: str, phones: Sequence[str]
    ) -> None:
        if phones:
            args = [self._keys.prefix, cpid, text_digest, send_id, json.dumps(list(phones))]
            await self._release_claims(args=args)

    async def recent_texts(self, since_ms: int) -> list[tuple[str, str]] | None:
        return None  # other daemons write here too: ask claim_recipients every time
