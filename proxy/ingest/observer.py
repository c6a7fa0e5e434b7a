"""What the ingest side reports as it settles reports and replies, for metrics."""

from __future__ import annotations

from typing import Protocol


class IngestObserver(Protocol):
    def report_matched(self, vendor: str, status: int, count: int = 1) -> None: ...

    def report_unmatched(self, vendor: str) -> None: ...

    def reply_delivered(self, vendor: str) -> None: ...


class NoIngestObserver:
    def report_matched(self, vendor: str, status: int, count: int = 1) -> None:
        pass

    def report_unmatched(self, vendor: str) -> None:
        pass

    def reply_delivered(self, vendor: str) -> None:
        pass
