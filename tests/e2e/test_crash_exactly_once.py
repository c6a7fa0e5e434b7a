"""kill -9 under load: the vendors' books show no SMS twice and no 0 without a vendor (issue 12).

The daemon runs as a process on SQLite and is killed with SIGKILL five times
at seeded random moments while a legacy client sends 150 messages a second,
each to its own number, and resends every send not answered ``0`` (no
answer, connection refused, ``-17``) with the same cpid, phone and text.
Vendors answer after 0.2 s, so every kill leaves tens of sends in flight at
a vendor.  A longer run: ``python -m tests.e2e.crash_load --kills 10
--duration 60 --rate 200`` (see tests/e2e/crash_load.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.crash_load import CrashLoad, run


async def test_sigkill_under_load_sends_nothing_twice_and_answers_no_false_0(
    tmp_path: Path,
) -> None:
    load = CrashLoad()
    result = await run(load, tmp_path)
    summary = result.summary()

    # The run did what it says: every kill happened under load, and most got through.
    assert len(result.kills) == load.kills, summary
    assert sum(k.outstanding > 0 for k in result.kills) >= load.kills - 1, summary
    answered = sum(m.zero for m in result.messages)
    assert answered >= 0.8 * len(result.messages), summary

    detail = summary + "\n" + result.examples()
    # (a) No (number, text) accepted twice, at one vendor or across two.
    sent_twice = len(result.duplicates())
    assert sent_twice == 0, detail
    # (b) Every message answered 0 is held by a vendor.
    false_zeros = len(result.false_zeros())
    assert false_zeros == 0, detail
