"""Three daemons behind HAProxy lose one, and a Redis master (issue 17, item 4 and done-when).

:class:`tests.cluster.cluster_rig.ClusterRig`: HAProxy from deploy/haproxy.cfg
(PROXY protocol v2), three daemon processes on one Redis, two vendor
simulators that refuse past ``VENDOR_RATE_PER_S`` a second, which is also the
vendors' ``rate_per_s`` in the daemons' config.  A legacy client sends one
message per number through HAProxy and resends whatever is not answered ``0``;
one daemon is killed with SIGKILL and restarted under that load.  The second
test runs Redis behind Sentinel and SIGKILLs its master too.  Then:

* no (number, text) is accepted twice by the vendors;
* every message answered ``0`` is held by a vendor;
* no vendor refused a send as too fast (its own count);
* ``/qreport/`` through HAProxy hands out no number's report twice.

On Sentinel, with passwords on the Redis nodes and the sentinels, neither
password shows in the daemons' logs (a failover logs what went wrong), in
their ``/admin/vendors`` or ``/metrics``, or in ``check-config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import time
from collections import Counter
from pathlib import Path

from proxy.cli import main
from tests.cluster.cluster_rig import ClusterRig
from tests.e2e.crash_load import CrashLoad, CrashResult, LoadClient, drive, new_messages
from tests.redis_sentinel import REDIS_PASSWORD, SENTINEL_PASSWORD, SentinelSet
from tests.redis_server import start_redis_server

LOAD = CrashLoad(rate_per_s=30.0, duration_s=12.0, kills=1, settle_s=6.0, poll_interval_s=0.5)


async def run_cluster(rig: ClusterRig, redis_fault: SentinelSet | None) -> tuple[CrashResult, str]:
    began = time.monotonic()
    await rig.start()
    client = LoadClient(rig.url, LOAD, random.Random(LOAD.seed + 1))
    messages = new_messages(LOAD)
    notes = ""

    async def fail_redis_over(redis_fault: SentinelSet) -> str:
        t = time.monotonic()
        old = redis_fault.kill_master()
        new = await redis_fault.wait_new_master(old, 20.0)
        took = time.monotonic() - t
        await redis_fault.restart(old)
        return f"redis master :{old} SIGKILLed, :{new} master {took:.1f} s later"

    async def fail_redis_over_apart(redis_fault: SentinelSet) -> str:
        await asyncio.sleep(LOAD.duration_s * 0.6)
        # On a loop of its own: the sentinels' and nodes' clients block, and the
        # vendor simulators on this loop must count each request as it arrives
        # (a stalled loop counts a second's requests closer together).
        return await asyncio.to_thread(asyncio.run, fail_redis_over(redis_fault))

    fault = asyncio.ensure_future(fail_redis_over_apart(redis_fault)) if redis_fault else None
    kills = await drive(rig.daemons[0], client, messages)
    if fault is not None:
        notes = await fault
    result = CrashResult(LOAD, messages, kills, rig.books(), time.monotonic() - began)
    reports = await rig.drain_reports()
    twice = {p: n for p, n in Counter(r.phone for r in reports).items() if n > 1}
    summary = (
        f"{result.summary()}\n{notes}\nvendors' too-fast refusals: {dict(rig.too_fast)}\n"
        f"reports handed out: {len(reports)}, numbers twice: {len(twice)}\n"
        f"daemons' warnings and errors: {rig.warnings()}"
    )
    assert len(result.kills) == 1, summary
    assert sum(m.zero for m in messages) >= 0.8 * len(messages), summary
    assert not result.duplicates(), summary + "\n" + result.examples()
    assert not result.false_zeros(), summary + "\n" + result.examples()
    assert not twice, summary
    assert len(reports) >= 0.5 * sum(m.zero for m in messages), summary
    assert sum(rig.too_fast.values()) == 0, summary
    return result, summary


async def test_three_daemons_behind_haproxy_lose_one(tmp_path: Path) -> None:
    redis = start_redis_server(tmp_path)
    rig = ClusterRig(tmp_path, LOAD, {"engine": "redis", "redis_url": redis.url})
    try:
        _, summary = await run_cluster(rig, None)
        print("\n" + summary)
    finally:
        await rig.stop()
        redis.stop()


async def test_three_daemons_on_sentinel_lose_one_daemon_and_the_redis_master(
    tmp_path: Path,
) -> None:
    sentinels = SentinelSet(tmp_path).start()
    state = sentinels.state_settings(redis_min_replicas_acked=1)
    rig = ClusterRig(tmp_path, LOAD, state)
    try:
        _, summary = await run_cluster(rig, sentinels)
        print("\n" + summary)
        shown = await rig.shown()
    finally:
        await rig.stop()
        sentinels.stop()
    config = rig.daemons[0].config
    checked = io.StringIO()
    with contextlib.redirect_stdout(checked):
        assert main(["check-config", str(config)]) == 0
    assert "state in redis at sentinel 127.0.0.1:" in checked.getvalue()
    everything = "\n".join([shown, rig.logs(), checked.getvalue()])
    assert '"listening"' in everything and "smsproxy_" in everything  # logs and metrics read
    for secret in (REDIS_PASSWORD, SENTINEL_PASSWORD):
        assert secret in config.read_text(encoding="utf-8")  # configured, so it could show
        assert secret not in everything, secret
