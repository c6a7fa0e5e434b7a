"""The store is busy: nothing was done, and the client should try again."""

from __future__ import annotations


class StoreBusy(Exception):
    """A call found the store's connections all taken for longer than it may wait,
    or its write unacknowledged by the replicas it must reach.

    Nothing was done: the legacy port answers it busy (``-15``), like a send
    that finds every turn taken, and the client's retry comes later.  Here,
    below routing and the store alike, so that routing lets it through to the
    legacy port rather than answering it as a failed attempt.

    ``may_have_run``: the call went out and its answer did not come back (a
    time-out, a lost connection), or replicas did not acknowledge it: what
    it did may stand.  A send's claim is undone and its record reads as
    unresolved, but a caller whose answer says what was done (a password
    changed) must not say "not done".
    """

    may_have_run: bool = False
