"""The store in Redis: what several daemons behind one load balancer share.

Every method is one Redis command or one Lua script (:mod:`.redis_lua`), so
it is as atomic as the SQLite engine's transaction: two daemons taking one
client's reports hand each out once, a quota reservation never passes its
limit, an inbox key is taken once, an inbox row is settled once.  A batch of
send records is one script call, whatever its size: the send path makes no
round trip per recipient.  It needs Redis 6.2 or newer (``ZADD GT``,
``ZMSCORE``), one server (with replicas or Sentinel if you like), not Redis
Cluster: the scripts build their key names from the prefix.

Durability is Redis's: run it with ``appendonly yes`` (and ``appendfsync
everysec`` or ``always``), or a Redis restart forgets the inbox and queues
that the vendors will not hand out again.

Key layout, every key under the prefix (``state.redis_prefix``, default
``smsproxy:``); ``<…>`` is a value, ``id`` a number from ``seq``:

====================================  =================================================
``seq``                               hash: the last id of each kind of row
``record:<id>``                       hash: one send record
``records``                           zset: record id by its time (retention)
``to:<phone>``                        zset: record ids (zero-padded) by time, per phone
``unresolved``                        zset: ids of unresolved records by time
``claim:<digest>:<phone>:<cpid>``     string: what a retry of that recipient finds
                                      (:mod:`.redis_lua`), expiring with the dedup window
``reported:<record id>``              set: statuses already matched to the record
``password``                          hash: cpid -> password set through /ent/ (salted)
``login:…``                           failed logins (:mod:`.redis_logins`)
``quota``                             hash: cpid -> segments used
``queue:<kind>:<cpid>``               zset: a client's queued items, by id
``queue:<kind>.held:<cpid>``          zset: a client's items being handed out, by hold expiry
``queue:<kind>.items``                hash: id -> the item, as JSON
``queue:<kind>.age``                  zset: item ids by their message's time
``inbox:<kind>:<id>``                 hash: one inbox row
``inbox:<kind>.keys:<account>``       hash: de-duplication key -> row id
``inbox:reports.due``                 zset: pending report ids (padded) by retry time
``inbox:replies.pending``             zset: pending reply ids (padded) by id
``inbox:reports.unmatched``           zset: unmatched report ids (padded) by id
``inbox:<kind>.settled``              zset: settled row ids (padded) by arrival time
``inbox:counts``                      hash: ``<kind>.<state>`` -> rows
``lease:<name>``                      string: the holder, expiring with the lease
====================================  =================================================

``<kind>`` is ``reports`` or ``replies``.  A key has at most one value
that comes from outside, at its end, so no two values share a key (a
claim's digest is hex and its phone digits).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from proxy.store import redis_lua as lua
from proxy.store.base import (
    CandidateQuery,
    ClaimWindow,
    HoldReceipt,
    InboxReply,
    InboxReport,
    QueuedReply,
    QueuedReport,
    QueueKind,
    ReplyDelivered,
    ReplySettlement,
    ReportMatched,
    ReportRetry,
    ReportSettlement,
    SendCandidate,
    SendRecord,
    SendSettlement,
    Settled,
    Taken,
)
from proxy.store.redis_logins import RedisLoginCounter

DEFAULT_PREFIX = "smsproxy:"
# take_reports/take_replies hold only for the moment between two scripts.
TAKE_HOLD_MS = 60_000
MAX_CANDIDATES = 100
MAX_CONNECTIONS = 100
PURGE_SLICE = 1000
MIN_VERSION = (6, 2)


class StoreUnavailable(RuntimeError):
    """The store could not be opened; the message names the server, never its password."""


class RedisStore:
    def __init__(self, client: Redis, prefix: str, where: str) -> None:
        self.prefix = prefix
        self.where = where  # the server, without credentials: for repr and errors
        self._redis = client
        self._closed = False
        script = client.register_script
        self._record_sends = script(lua.RECORD_SENDS)
        self._claim_recipients = script(lua.CLAIM_RECIPIENTS)
        self._release_claims = script(lua.RELEASE_CLAIMS)
        self._unresolved = script(lua.UNRESOLVED)
        self._send_candidates_many = script(lua.SEND_CANDIDATES_MANY)
        self._last_sender = script(lua.LAST_SENDER)
        self._reserve_quota = script(lua.RESERVE_QUOTA)
        self._release_quota = script(lua.RELEASE_QUOTA)
        self._enqueue = script(lua.ENQUEUE)
        self._hold = script(lua.HOLD)
        self._settle_held = script(lua.SETTLE_HELD)
        self._add_reports = script(lua.ADD_REPORTS)
        self._add_replies = script(lua.ADD_REPLIES)
        self._pending_reports = script(lua.PENDING_REPORTS)
        self._pending_replies = script(lua.PENDING_REPLIES)
        self._unmatched_reports = script(lua.UNMATCHED_REPORTS)
        self._settle_reports = script(lua.SETTLE_REPORTS)
        self._settle_replies = script(lua.SETTLE_REPLIES)
        self._purge_records = script(lua.PURGE_RECORDS)
        self._purge_inbox = script(lua.PURGE_INBOX)
        self._purge_queue = script(lua.PURGE_QUEUE)
        self._acquire_lease = script(lua.ACQUIRE_LEASE)
        self._replace_password = script(lua.REPLACE_DIGEST)
        self._logins = RedisLoginCounter(client, prefix)

    def __repr__(self) -> str:
        return f"<RedisStore {self.where} prefix={self.prefix!r} open={not self._closed}>"

    @classmethod
    async def open(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        where = server_of(url)
        pool = BlockingConnectionPool.from_url(
            url,
            # More calls in flight than connections wait for one: redis-py's
            # default pool fails the call instead (a send answered -110 when
            # a burst of sends met a busy server).
            max_connections=MAX_CONNECTIONS,
            timeout=5.0,
            decode_responses=True,
            socket_connect_timeout=3.0,
            socket_timeout=5.0,
            # One retry, and only for a connection found dead (a Redis
            # restart): a timed-out script may have run, and running
            # reserve_quota or take_reports twice is not harmless.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        client = Redis.from_pool(pool)
        store = cls(client, prefix, where)
        try:
            await store._check_server()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"redis at {where}: {type(exc).__name__}: {exc}") from None
        except StoreUnavailable:
            await client.aclose()
            raise
        return store

    async def _check_server(self) -> None:
        info = await self._redis.info("server")
        version = str(info.get("redis_version", "0"))
        parts = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
        if parts < MIN_VERSION:
            raise StoreUnavailable(
                f"redis at {self.where} is version {version}; smsproxy needs 6.2 or newer"
            )

    def _key(self, *parts: str) -> str:
        return self.prefix + "".join(parts)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._redis.aclose()

    async def ping(self) -> bool:
        if self._closed:  # the client would quietly reconnect
            return False
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # --- send records ------------------------------------------------------------

    async def record_sends(
        self, records: Sequence[SendRecord], settlements: Sequence[SendSettlement] = ()
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
            for r in records
        ]
        settled = [
            [str(s.first_key), str(s.size), s.outcome, s.vendor_code, s.message_ids]
            for s in settlements
        ]
        args = [self.prefix, json.dumps(rows), json.dumps(settled), str(_now_ms())]
        return int(await self._record_sends(args=args))

    async def recent_texts(self, since_ms: int) -> list[tuple[str, str]] | None:
        return None  # other daemons write here too: ask claim_recipients every time

    async def claim_recipients(
        self,
        cpid: str,
        text_digest: str,
        send_id: str,
        phones: Sequence[str],
        claim: ClaimWindow,
    ) -> list[Taken]:
        unique = list(dict.fromkeys(phones))
        if not unique:
            return []
        resend = claim.resend_unresolved
        entries = [[p, "1" if p in resend else "0"] for p in unique]
        args = [
            self.prefix,
            cpid,
            text_digest,
            send_id,
            str(claim.now_ms),
            str(max(1, claim.window_ms)),
            str(claim.unresolved_ms),
            json.dumps(entries),
            str(claim.stale_claim_ms),
        ]
        taken = await self._claim_recipients(args=args)
        return [Taken(phone, state == "a") for phone, state in taken]

    async def release_claims(
        self, cpid: str, text_digest: str, send_id: str, phones: Sequence[str]
    ) -> None:
        if phones:
            args = [self.prefix, cpid, text_digest, send_id, json.dumps(list(phones))]
            await self._release_claims(args=args)

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        count, rows = await self._unresolved(args=[self.prefix, str(since_ms), str(limit)])
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
        args = [self.prefix, json.dumps(encoded), str(MAX_CANDIDATES)]
        found = _json_list(await self._send_candidates_many(args=args))
        answers = {q: _candidates(rows) for q, rows in zip(unique, found, strict=True)}
        return [list(answers[q]) for q in queries]

    async def last_sender(self, phone: str, vendors: Sequence[str] | None) -> str | None:
        if vendors is not None and not vendors:
            return None
        names = [] if vendors is None else list(dict.fromkeys(vendors))
        flag = "0" if vendors is None else "1"
        cpid = await self._last_sender(args=[self.prefix, phone, flag, *names])
        return None if cpid is None else str(cpid)

    # --- client credentials and quotas ---------------------------------------------

    async def password_digest(self, cpid: str) -> str | None:
        digest = await self._redis.hget(self._key("password"), cpid)
        return None if digest is None else str(digest)

    async def set_password_digest(self, cpid: str, digest: str) -> None:
        await self._redis.hset(self._key("password"), cpid, digest)

    async def replace_password_digest(self, cpid: str, old: str, new: str) -> bool:
        return bool(
            await self._replace_password(keys=[self._key("password")], args=[cpid, old, new])
        )

    async def drop_password_digest(self, cpid: str) -> bool:
        return bool(await self._redis.hdel(self._key("password"), cpid))

    def login_counter(self) -> RedisLoginCounter:
        return self._logins

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        args = [cpid, str(segments), str(limit)]
        return bool(await self._reserve_quota(keys=[self._key("quota")], args=args))

    async def release_quota(self, cpid: str, segments: int) -> None:
        await self._release_quota(keys=[self._key("quota")], args=[cpid, str(segments)])

    async def quota_used(self, cpid: str) -> int:
        used = await self._redis.hget(self._key("quota"), cpid)
        return 0 if used is None else int(used)

    # --- client queues -------------------------------------------------------------

    async def take_reports(self, cpid: str, limit: int) -> list[QueuedReport]:
        receipt, reports = await self.hold_reports(cpid, limit, TAKE_HOLD_MS)
        await self.settle_held("reports", cpid, receipt, True)
        return reports

    async def take_replies(self, cpid: str, limit: int) -> list[QueuedReply]:
        receipt, replies = await self.hold_replies(cpid, limit, TAKE_HOLD_MS)
        await self.settle_held("replies", cpid, receipt, True)
        return replies

    async def hold_reports(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReport]]:
        receipt, items = await self._hold_items("reports", cpid, limit, hold_ms)
        return receipt, [
            QueuedReport(phone, int(status), _at(ms)) for _, phone, status, ms in items
        ]

    async def hold_replies(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReply]]:
        receipt, items = await self._hold_items("replies", cpid, limit, hold_ms)
        return receipt, [QueuedReply(phone, text, _at(ms)) for _, phone, text, ms in items]

    def _queue_keys(self, kind: QueueKind, cpid: str) -> list[str]:
        return [
            self._key("queue:", kind, ":", cpid),
            self._key("queue:", kind, ".held:", cpid),
            self._key("queue:", kind, ".items"),
            self._key("queue:", kind, ".age"),
        ]

    async def _hold_items(
        self, kind: QueueKind, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[list[Any]]]:
        now = _now_ms()
        if limit <= 0:
            return HoldReceipt((), now), []
        args = [str(limit), str(now), str(hold_ms)]
        held = await self._hold(keys=self._queue_keys(kind, cpid)[:3], args=args)
        pairs = [(int(key), json.loads(item)) for key, item in held if item is not None]
        return HoldReceipt(tuple(k for k, _ in pairs), now + hold_ms), [i for _, i in pairs]

    async def settle_held(
        self, kind: QueueKind, cpid: str, receipt: HoldReceipt, delivered: bool
    ) -> None:
        if receipt.keys:
            flag = "1" if delivered else "0"
            args = [flag, str(receipt.until_ms), *(str(k) for k in receipt.keys)]
            await self._settle_held(keys=self._queue_keys(kind, cpid), args=args)

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None:
        payload, ms = _report_item(cpid, report)
        await self._enqueue(args=[self.prefix, "reports", cpid, payload, ms])

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None:
        payload, ms = _reply_item(cpid, reply)
        await self._enqueue(args=[self.prefix, "replies", cpid, payload, ms])

    async def queue_stats(self) -> dict[str, tuple[int, float]]:
        now = _now_ms()
        async with self._redis.pipeline(transaction=True) as pipe:
            for kind in ("reports", "replies"):
                age = self._key("queue:", kind, ".age")
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

    # --- the inbox -----------------------------------------------------------------

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
        return int(await self._add_reports(args=[self.prefix, json.dumps(rows)]))

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
        return int(await self._add_replies(args=[self.prefix, json.dumps(rows)]))

    async def pending_reports(self, now_ms: int, limit: int) -> list[InboxReport]:
        if limit <= 0:
            return []
        answer = await self._pending_reports(args=[self.prefix, str(now_ms), str(limit)])
        return [_inbox_report(row) for row in _json_list(answer)]

    async def unmatched_reports(self, limit: int) -> list[InboxReport]:
        if limit <= 0:
            return []
        rows = await self._unmatched_reports(args=[self.prefix, str(limit)])
        return [_inbox_report(row) for row in rows]

    async def pending_replies(self, limit: int) -> list[InboxReply]:
        if limit <= 0:
            return []
        rows = await self._pending_replies(args=[self.prefix, str(limit)])
        return [_inbox_reply(row) for row in rows]

    async def settle_reports(self, settlements: Sequence[ReportSettlement]) -> Settled:
        if not settlements:
            return Settled()
        encoded: list[list[str]] = []
        for s in settlements:
            if isinstance(s, ReportMatched):
                payload, ms = _report_item(s.cpid, s.report)
                encoded.append(["m", str(s.inbox_id), str(s.record_key), s.cpid, payload, ms])
            elif isinstance(s, ReportRetry):
                encoded.append(["r", str(s.inbox_id), str(s.next_try_ms)])
            else:
                encoded.append(["u", str(s.inbox_id)])
        args = [self.prefix, json.dumps(encoded), str(_now_ms())]
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
                payload, ms = _reply_item(s.cpid, s.reply)
                encoded.append(["d", ids, s.cpid, payload, ms])
            else:
                encoded.append(["u", ids])
        got = await self._settle_replies(args=[self.prefix, json.dumps(encoded)])
        queued, unmatched, skipped = (int(n) for n in got)
        return Settled(queued=queued, unmatched=unmatched, skipped=skipped)

    async def inbox_counts(self) -> dict[str, int]:
        counts = await self._redis.hgetall(self._key("inbox:counts"))
        return {str(state): int(n) for state, n in counts.items() if int(n) > 0}

    # --- retention and leases --------------------------------------------------------

    async def purge(self, before_ms: int) -> int:
        before, size = str(before_ms), str(PURGE_SLICE)
        slices = [
            (self._purge_records, [self.prefix, before, size]),
            (self._purge_inbox, [self.prefix, "reports", before, size]),
            (self._purge_inbox, [self.prefix, "replies", before, size]),
            (self._purge_queue, [self.prefix, "reports", before, size]),
            (self._purge_queue, [self.prefix, "replies", before, size]),
        ]
        removed = 0
        for script, args in slices:
            while True:
                n = int(await script(args=args))
                removed += n
                if n < PURGE_SLICE:
                    break
        return removed

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        key = self._key("lease:", name)
        # Redis expires the key on its own clock: daemons' clocks need not agree.
        return bool(await self._acquire_lease(keys=[key], args=[holder, str(ttl_ms)]))


def server_of(url: str) -> str:
    """The server a Redis URL names, without user or password."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix:{parts.path}"
        host = parts.hostname or "localhost"
        return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"
    except ValueError:
        return "(unreadable URL)"


def _candidates(rows: list[list[Any]]) -> list[SendCandidate]:
    return [
        SendCandidate(int(key), cpid, vendor, mid, int(created), frozenset(map(int, reported)))
        for key, cpid, vendor, mid, created, reported in rows
    ]


def _json_list(answer: str) -> list[Any]:
    """A script's JSON answer: Lua's cjson writes an empty list as ``{}``."""
    rows = json.loads(answer)
    return [_json_list_of(row) for row in rows] if isinstance(rows, list) else []


def _json_list_of(value: Any) -> Any:
    return [] if value == {} else value


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)


def _report_item(cpid: str, report: QueuedReport) -> tuple[str, str]:
    ms = str(_ms(report.sent_at))
    return json.dumps([cpid, report.phone, report.status, ms]), ms


def _reply_item(cpid: str, reply: QueuedReply) -> tuple[str, str]:
    ms = str(_ms(reply.received_at))
    return json.dumps([cpid, reply.phone, reply.text, ms]), ms


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


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


# Epoch milliseconds in the store, aware UTC datetimes out of it: the host's
# zone never enters (subtracting a naive time from _EPOCH raises).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _ms(t: datetime) -> int:
    return (t - _EPOCH) // _MS


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _at(ms: str | int) -> datetime:
    return _EPOCH + int(ms) * _MS
