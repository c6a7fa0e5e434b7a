"""What the router reports as it works, for metrics; routing itself knows no Prometheus."""

from __future__ import annotations

from typing import Protocol

from core.outcome import Outcome


class RouteObserver(Protocol):
    def attempt(
        self,
        vendor: str,
        outcome: Outcome,
        recipients: int,
        segments: int,
        latency_s: float,
        cost: float,
    ) -> None: ...

    def failover(self, from_vendor: str, to_vendor: str, reason: Outcome) -> None: ...

    def rate_wait(self, vendor: str, waited_s: float, gave_up: bool) -> None: ...


class NoObserver:
    def attempt(
        self,
        vendor: str,
        outcome: Outcome,
        recipients: int,
        segments: int,
        latency_s: float,
        cost: float,
    ) -> None:
        pass

    def failover(self, from_vendor: str, to_vendor: str, reason: Outcome) -> None:
        pass

    def rate_wait(self, vendor: str, waited_s: float, gave_up: bool) -> None:
        pass
