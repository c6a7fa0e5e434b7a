"""The store is busy: nothing was done, and the client should try again."""

from __future__ import annotations


class StoreBusy(Exception):
    """A call found the store's connections all taken for longer than it may wait,
    or its write unacknowledged by the replicas it must reach.

    Nothing was done: the legacy port answers it busy (``-15``), like a send
    that finds every turn taken, and the client's retry comes later.  Here,
    below routing and the store alike, so that routing lets it through to the
    legacy port rather than answering it as a failed attempt.
    """
